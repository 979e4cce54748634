// HTTP to the Hub: bearer token only to the Hub's own origin, retries with backoff on 429/5xx and
// dropped connections (Retry-After honoured), and errors that say what was not found or allowed.
import type { HubConfig } from './config.ts';

export class HubError extends Error {
  constructor(
    message: string,
    readonly status: number | null = null,
    readonly url: string | null = null,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

/** A response status turned into a sentence a user can act on (`what` names repo/revision/file). */
export function statusError(res: Response, what: string, url: string): HubError {
  const code = res.headers.get('x-error-code');
  const msg = res.headers.get('x-error-message');
  let text: string;
  if (res.status === 401 || res.status === 403)
    text = `${what}: access denied (HTTP ${res.status}${msg ? `: ${msg}` : ''}); a gated or private repo needs a token: set HF_TOKEN (or run huggingface-cli login)`;
  else if (res.status === 404)
    text =
      code === 'RevisionNotFound'
        ? `${what}: no such revision (HTTP 404)`
        : code === 'EntryNotFound'
          ? `${what}: no such file in the repo (HTTP 404)`
          : `${what}: not found (HTTP 404${code ? ` ${code}` : ''}); check the id, its type (model or dataset) and the revision`;
  else if (res.status === 429) text = `${what}: rate limited by the Hub (HTTP 429), retries exhausted`;
  else text = `${what}: HTTP ${res.status}${msg ? ` (${msg})` : ''}`;
  return new HubError(text, res.status, url);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait before retry `attempt` (0-based): Retry-After when given, else 0.5 s · 2^attempt, capped. */
export function backoffMs(cfg: HubConfig, attempt: number, res?: Response): number {
  const ra = res?.headers.get('retry-after');
  if (ra) {
    const s = Number(ra);
    const ms = Number.isFinite(s) ? s * 1000 : Date.parse(ra) - Date.now();
    if (Number.isFinite(ms)) return Math.min(Math.max(ms, 0), cfg.maxBackoffMs);
  }
  return Math.min(500 * 2 ** attempt, cfg.maxBackoffMs);
}

const retryable = (status: number) => status === 429 || status >= 500;

/** Headers for a request to `url`: the token goes only to the configured endpoint's origin. */
export function authHeaders(cfg: HubConfig, url: string): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': 'search-r1-ts; hf_hub-compatible' };
  if (cfg.token && new URL(url).origin === new URL(cfg.endpoint).origin)
    h.authorization = `Bearer ${cfg.token}`;
  return h;
}

/**
 * fetch with retries on 429/5xx and network errors. Non-retryable statuses and the last
 * retryable one are returned (the caller decides what an error means); network errors that
 * outlast the retries are thrown.
 */
export async function fetchWithRetry(
  cfg: HubConfig,
  url: string,
  init: RequestInit,
  onRetry?: (why: string, waitMs: number) => void,
): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await cfg.fetch(url, {
        ...init,
        headers: { ...authHeaders(cfg, url), ...(init.headers as object) },
      });
    } catch (e) {
      // No such host / nothing listening: retrying will not help, and offline users want the cache now.
      const code = ((e as { cause?: { code?: string } }).cause?.code ?? '') as string;
      if (attempt >= cfg.retries || ['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED'].includes(code)) throw e;
      const wait = backoffMs(cfg, attempt);
      onRetry?.(`connection error: ${(e as Error).message}`, wait);
      await sleep(wait);
      continue;
    }
    if (!retryable(res.status) || attempt >= cfg.retries) return res;
    const wait = backoffMs(cfg, attempt, res);
    await res.body?.cancel();
    onRetry?.(`HTTP ${res.status}`, wait);
    await sleep(wait);
  }
}
