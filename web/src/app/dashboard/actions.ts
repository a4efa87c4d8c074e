// What the dashboard can do, through the same REST routes (and roles) as
// any API client: pause, resume or end a session, drain a node or undo that.

export type SessionAction = 'pause' | 'resume' | 'end';

export class ActionError extends Error {
  constructor(
    readonly status: number,
    /** The problem's kind: the last segment of its `type`, or `network`. */
    readonly kind: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

async function call(method: 'POST' | 'DELETE', path: string, token: () => Promise<string>): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(path, { method, headers: { authorization: `Bearer ${await token()}` } });
  } catch (e) {
    throw new ActionError(0, 'network', `the service did not answer (${(e as Error).message})`);
  }
  const text = await res.text();
  let body: { type?: string; detail?: string } | null = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const kind = body?.type?.split('/').pop() || `http-${res.status}`;
    throw new ActionError(res.status, kind, body?.detail || text.slice(0, 200) || `HTTP ${res.status}`);
  }
  return body;
}

export function sessionAction(token: () => Promise<string>, id: string, action: SessionAction) {
  return call('POST', `/api/v1/sessions/${encodeURIComponent(id)}/${action}`, token);
}

export function drainNode(token: () => Promise<string>, node: string) {
  return call('POST', `/api/v1/nodes/${encodeURIComponent(node)}/drain`, token);
}

/** Undoes an admin's drain (refused, 409, while the node is stopping). */
export function undrainNode(token: () => Promise<string>, node: string) {
  return call('DELETE', `/api/v1/nodes/${encodeURIComponent(node)}/drain`, token);
}

/** What an operator can do about a refused action. */
export function advice(e: ActionError): string {
  switch (e.kind) {
    case 'network':
      return 'Check the connection to the service and try again.';
    case 'unauthorized':
      return 'Your sign-in ended: sign in again.';
    case 'forbidden':
      return 'This needs the admin role.';
    case 'illegal-transition':
    case 'conflict':
      return 'The session changed meanwhile: look at its state in the table and try again if it still applies.';
    case 'no-such-session':
    case 'no-such-node':
      return 'It is gone: the table shows what is left.';
    case 'node-unreachable':
    case 'unavailable':
    case 'cache-unavailable':
      return 'The node cannot be reached now: try again in a few seconds.';
    default:
      return 'Try again; if it keeps failing, look at the service log.';
  }
}
