'use server';

// A server action: saves a user (asks the upstream service with fetch) and returns its name.
export async function saveUser(name: string): Promise<string> {
  const r = await fetch(`${process.env.UPSTREAM_URL}/save`, { method: 'POST', body: name, cache: 'no-store' });
  return `saved ${await r.text()}`;
}
