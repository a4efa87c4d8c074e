// The signaling `hello` both pages send. With ?session=<id> it joins that game
// session (created through the API). Without, every page query parameter except
// the page's own switches is a pipeline parameter of a session made for this
// stream; the server checks names, types and bounds against the pipeline file.
const PAGE_SWITCHES = ['pipeline', 'overlay', 'stamp', 'photon', 'presses', 'render', 'token', 'user', 'role', 'session'];

export interface Hello {
  type: 'hello';
  version: 1;
  session_id?: string;
  pipeline?: string;
  params?: Record<string, string | number | boolean>;
}

export function helloMessage(query: URLSearchParams, defaultPipeline: string | null = null): Hello {
  const msg: Hello = { type: 'hello', version: 1 };
  const session = query.get('session');
  if (session) return { ...msg, session_id: session };
  const pipeline = query.get('pipeline') || defaultPipeline;
  if (pipeline) msg.pipeline = pipeline;
  const params: Record<string, string | number | boolean> = {};
  for (const [key, raw] of query) {
    if (PAGE_SWITCHES.includes(key) || raw === '') continue;
    if (raw === 'true' || raw === 'false') params[key] = raw === 'true';
    else if (Number.isFinite(Number(raw))) params[key] = Number(raw);
    else params[key] = raw;
  }
  if (Object.keys(params).length) msg.params = params;
  return msg;
}
