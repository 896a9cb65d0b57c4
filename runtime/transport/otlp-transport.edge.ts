// OTLP export in the edge build (dist/edge, the `workerd`/`worker` export conditions): not available
// there (the OTLP transport sends with node:http and node:zlib), so the build puts this file where
// ./otlp-transport.js is; an OTLP exporter setting is warned about once and intake v2 is used.
import type { OtlpSettings } from './otlp-transport.js';
import { FetchTransport } from './fetch-transport.js';

/** No OTLP in a worker: undefined (intake v2 over fetch), with a warning when one was asked for. */
export function otlpSettings(env: Record<string, string | undefined>, exporter: string | undefined, warn: (m: string) => void): OtlpSettings | undefined {
  const chosen = exporter ?? env.SPANFORGE_EXPORTER?.trim();
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  // The same choice as otlp-transport.ts makes on Node.
  if (chosen === 'otlp' || (!chosen && !!endpoint && !env.ELASTIC_APM_SERVER_URL)) {
    warn('spanforge: OTLP export is not available on this runtime (edge build); sending intake v2 with fetch');
  }
  return undefined;
}

/**
 * Never constructed (otlpSettings returns undefined); present so the agent's import resolves. A class of
 * its own, not an alias of FetchTransport: the agent's `transport instanceof OtlpTransport` (no central
 * configuration towards an OpenTelemetry backend) must stay false for the edge build's fetch transport.
 */
export class OtlpTransport extends FetchTransport {}
