import type { NextRequest } from 'next/server';

// GET /api/users/[id]: asks the upstream service (UPSTREAM_URL) for the user, with fetch.
export async function GET(request: NextRequest, { params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const upstream = await fetch(`${process.env.UPSTREAM_URL}/users/${id}`, { cache: 'no-store' });
  const user = (await upstream.json()) as { id: string; name: string };
  return Response.json({ ...user, via: request.nextUrl.pathname });
}
