// Calls to the service's REST API (docs/API.md). Errors arrive as
// problem+json; they become ApiError with what happened and what to do.

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
}

export class ApiError extends Error {
  readonly status: number;
  /** The last segment of the problem's `type` (`no-room`, `unauthorized`, …), or `network`. */
  readonly kind: string;
  readonly title: string;
  readonly detail: string;
  readonly retryAfter: number | null;

  constructor(status: number, problem: Problem, retryAfter: number | null = null) {
    const kind = problem.type?.split('/').pop() || (status === 0 ? 'network' : `http-${status}`);
    const title = problem.title || (status === 0 ? 'No connection' : `Error ${status}`);
    const detail = problem.detail || '';
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.kind = kind;
    this.title = title;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }

  /** What the person in front of the screen can do about it. */
  get advice(): string {
    return adviceFor(this.kind, this.retryAfter);
  }
}

export function adviceFor(kind: string, retryAfter: number | null = null): string {
  const wait = retryAfter ? ` in ${retryAfter} s` : ' in a moment';
  switch (kind) {
    case 'network':
      return 'Check your connection; the app shows what it cached meanwhile.';
    case 'unauthorized':
      return 'Your sign-in ended: sign in again.';
    case 'forbidden':
      return 'Your role does not allow this: ask an operator for the player role.';
    case 'no-such-session':
      return 'The session has ended or is not shared with you: go back to the library.';
    case 'no-room':
      return `This service is full right now: try again${wait}.`;
    case 'unavailable':
    case 'state-unavailable':
    case 'auth-unavailable':
    case 'node-unreachable':
      return `The service cannot do this right now: try again${wait}.`;
    case 'illegal-transition':
      return 'The session is in another state now: reload to see where it is.';
    case 'conflict':
      return 'It changed at the same moment: try again.';
    case 'invalid-request':
    case 'bad-body':
      return 'Check what you entered and try again.';
    case 'dev-issuer-off':
      return 'This service signs in through its identity provider: reload the page.';
    case 'sign-in-unavailable':
      return 'Check your connection and reload the page; if it keeps happening, tell the operator (the identity provider may be down or its key wrong).';
    default:
      return 'Try again; if it keeps happening, tell the operator what it said.';
  }
}

export type TokenFn = () => Promise<string>;

/** Calls `/api/v1/<path>` and answers its JSON (`null` for 204). */
export async function api<T>(
  path: string,
  init: { method?: string; token?: TokenFn | null; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${await init.token()}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`/api/v1/${path}`, {
      method: init.method ?? 'GET',
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, { detail: `the service did not answer (${(e as Error).message})` });
  }
  if (res.status === 204) return null as T;
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const retry = Number(res.headers.get('retry-after'));
    const problem = (json && typeof json === 'object' ? json : { detail: text.slice(0, 200) }) as Problem;
    throw new ApiError(res.status, problem, Number.isFinite(retry) && retry > 0 ? retry : null);
  }
  return json as T;
}

// The shapes the app reads (docs/API.md).

export interface Me {
  user_id: string;
  role: Role;
  issuer?: string;
  session?: string | null;
  token_expires_at?: number;
  profile?: { created_at: string; last_login_at: string } | null;
}

export type Role = 'admin' | 'player' | 'viewer';

export interface Game {
  id: string;
  title: string;
  pipeline: string;
  available: boolean;
  /** A picture for the library, where the catalog names one. */
  art?: string | null;
  /** What one session of it reserves on the node. */
  reserves?: { cpu_cores?: number; memory_mb?: number } | null;
}

export type SessionState =
  | 'idle'
  | 'initializing'
  | 'connecting'
  | 'active'
  | 'paused'
  | 'terminated'
  | 'error'
  | 'cleanup';

export interface SessionView {
  id: string;
  owner: string;
  game: string;
  pipeline: string;
  node?: string;
  state: SessionState;
  reason?: string;
  version: number;
  params?: Record<string, unknown>;
  viewers: string[];
  created_at: string;
  updated_at: string;
  stats?: { duration_secs?: number; ended?: string; reconciled?: boolean } | null;
}

export interface SessionEvent {
  type: 'event';
  seq: number;
  session_id: string;
  version: number;
  from: string;
  to: SessionState;
  event: { event: string; reason?: string };
  at: string;
}

export interface ClientConfig {
  /** `external`: a real issuer without Clerk; players bring a token it issued. */
  sign_in: 'development' | 'clerk' | 'external';
  clerk_publishable_key: string | null;
}

export const RUNNING: SessionState[] = ['idle', 'initializing', 'connecting', 'active', 'paused'];
