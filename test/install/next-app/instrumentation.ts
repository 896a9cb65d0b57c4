export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { register } = await import('spanforge/next');
    register({ serviceName: process.env.GS_SERVICE });
  }
}
