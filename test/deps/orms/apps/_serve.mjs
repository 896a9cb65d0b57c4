// The HTTP shape every fixture app shares: GET /q runs the ORM's route (two queries inside one request
// transaction); setup and teardown run outside any transaction, so they record nothing.
import http from 'node:http';

export function serve({ setup, route, teardown }) {
  const server = http.createServer(async (req, res) => {
    try {
      res.end(JSON.stringify(await route()));
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err && err.stack));
    }
  });
  server.listen(0, '127.0.0.1', async () => {
    let failed = false;
    try {
      await setup();
      const r = await fetch(`http://127.0.0.1:${server.address().port}/q`);
      console.log('app said:', r.status, await r.text());
      failed = r.status !== 200;
    } catch (err) {
      console.error(err);
      failed = true;
    } finally {
      await teardown().catch((e) => console.error(e));
      server.close();
      if (failed) process.exitCode = 1;
    }
  });
}
