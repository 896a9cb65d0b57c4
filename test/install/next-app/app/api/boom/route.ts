// GET /api/boom: a route handler that throws (Next answers 500).
export async function GET(): Promise<Response> {
  await Promise.resolve();
  throw new Error('boom from the route handler');
}
