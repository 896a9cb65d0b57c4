// Demo "inventory" service: Fastify, routes registered in a plugin the way Fastify apps are written;
// its transactions are named by route template (`GET /stock/:id`) and continue the shop's traces.
import Fastify, { type FastifyPluginAsync } from 'fastify';
import { flush, start } from 'spanforge';

// Metrics every 10 s (the default is 30 s) so the demo's charts fill in its first minute.
start({ serviceName: 'demo-inventory', metricsInterval: '10s' });

const stockRoutes: FastifyPluginAsync = async (fastify) => {
  fastify.get('/stock/:id', async (req) => {
    const id = Number((req.params as { id: string }).id);
    return { id, available: 10 - (id % 10) };
  });

  fastify.post('/reserve/:id', async (req, reply) => {
    const id = Number((req.params as { id: string }).id);
    if (id % 3 === 0) {
      reply.code(409); // every third product is out of stock
      return { error: 'out of stock' };
    }
    return { id, reserved: 1 };
  });
};

const app = Fastify();
void app.register(stockRoutes);

app.listen({ port: 0, host: '127.0.0.1' }).then(() => {
  const a = app.server.address();
  process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : 0}\n`);
});

process.on('SIGTERM', () => {
  void flush().finally(() => {
    void app.close();
    process.exit(0);
  });
});
