/**
 * Where the Temporal server is and how to reach it, from the standard Temporal environment variables (the names
 * the `temporal` CLI uses), so pointing workers and clients at a cluster or Temporal Cloud needs no code change.
 */
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';

export const DEFAULT_ADDRESS = '127.0.0.1:7233';
export const DEFAULT_UI = 'http://127.0.0.1:8233';

export interface TemporalSettings {
  address: string;
  namespace: string;
  /** TLS (mTLS when a client cert is set); undefined: plain gRPC. */
  tls?: TLSConfig;
  apiKey?: string;
  /** True when TEMPORAL_ADDRESS is unset: `rpg run` may start the local dev server. */
  local: boolean;
  /** The Web UI base (RPG_TEMPORAL_UI, else the dev server's, else Temporal Cloud's for a cloud address). */
  ui: string | undefined;
}

/**
 * Opens a connection to the server of `settings` with `connect` (the client's or the worker's); an unreachable
 * server becomes a {@link TemporalUnreachableError} that says what to do.
 */
export async function connectTo<C>(
  settings: TemporalSettings,
  connect: (options: { address: string; tls?: TLSConfig; apiKey?: string }) => Promise<C>,
): Promise<C> {
  return connect({
    address: settings.address,
    ...(settings.tls ? { tls: settings.tls } : {}),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  }).catch((err: Error) => {
    throw new TemporalUnreachableError(
      `cannot reach Temporal at ${settings.address} (${err.message}): start one with \`rpg server\` or set ` +
        'TEMPORAL_ADDRESS (and the TLS variables for a cluster; see the README)',
    );
  });
}

export class TemporalUnreachableError extends Error {
  override readonly name = 'TemporalUnreachableError';
}

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

function readPem(env: NodeJS.ProcessEnv, name: string): Uint8Array | undefined {
  const path = env[name];
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SettingsError(`${name}=${path} cannot be read: ${(err as Error).message}`);
  }
}

/**
 * TEMPORAL_ADDRESS (host:port, default 127.0.0.1:7233), TEMPORAL_NAMESPACE (default `default`),
 * TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY (client certificate and key files, for mTLS), TEMPORAL_TLS_CA (server CA
 * file), TEMPORAL_TLS_SERVER_NAME, TEMPORAL_TLS=true (TLS without a client certificate), TEMPORAL_API_KEY.
 */
export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const address = env.TEMPORAL_ADDRESS || DEFAULT_ADDRESS;
  const namespace = env.TEMPORAL_NAMESPACE || 'default';
  const crt = readPem(env, 'TEMPORAL_TLS_CERT');
  const key = readPem(env, 'TEMPORAL_TLS_KEY');
  if (Boolean(crt) !== Boolean(key)) {
    throw new SettingsError('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both or neither');
  }
  const ca = readPem(env, 'TEMPORAL_TLS_CA');
  const serverName = env.TEMPORAL_TLS_SERVER_NAME;
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  const tlsWanted = Boolean(crt || ca || serverName || apiKey) || /^(1|true)$/i.test(env.TEMPORAL_TLS ?? '');
  const tls: TLSConfig | undefined = tlsWanted
    ? {
        ...(crt && key ? { clientCertPair: { crt, key } } : {}),
        ...(ca ? { serverRootCACertificate: ca } : {}),
        ...(serverName ? { serverNameOverride: serverName } : {}),
      }
    : undefined;
  const local = !env.TEMPORAL_ADDRESS;
  const ui =
    env.RPG_TEMPORAL_UI ||
    (local || /^(127\.0\.0\.1|localhost):7233$/.test(address)
      ? DEFAULT_UI
      : /\.tmprl\.cloud:/.test(address)
        ? 'https://cloud.temporal.io'
        : undefined);
  return {
    address,
    namespace,
    ...(tls ? { tls } : {}),
    ...(apiKey ? { apiKey } : {}),
    local,
    ui,
  };
}

/** The Web UI page of one workflow. */
export function workflowUrl(ui: string, namespace: string, workflowId: string): string {
  return `${ui.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
