import { NextResponse, type NextRequest } from 'next/server';

// Next 16's proxy (formerly middleware), on the Node.js runtime: tags API responses.
export function proxy(request: NextRequest) {
  const res = NextResponse.next();
  res.headers.set('x-proxied', request.nextUrl.pathname);
  return res;
}

export const config = { matcher: '/api/:path*' };
