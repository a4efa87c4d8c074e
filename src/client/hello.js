// The signaling `hello` both pages send. With ?session=<id> it joins that game
// session (created through the API). Without, every page query parameter except
// the page's own switches is a pipeline parameter of a session made for this
// stream; the server checks names, types and bounds against the pipeline file.
const PAGE_SWITCHES = ['pipeline', 'overlay', 'stamp', 'photon', 'presses', 'token', 'user', 'role', 'session'];

export function helloMessage(query, defaultPipeline = null) {
  const msg = { type: 'hello', version: 1 };
  if (query.get('session')) return { ...msg, session_id: query.get('session') };
  const pipeline = query.get('pipeline') || defaultPipeline;
  if (pipeline) msg.pipeline = pipeline;
  const params = {};
  for (const [key, raw] of query) {
    if (PAGE_SWITCHES.includes(key) || raw === '') continue;
    if (raw === 'true' || raw === 'false') params[key] = raw === 'true';
    else if (Number.isFinite(Number(raw))) params[key] = Number(raw);
    else params[key] = raw;
  }
  if (Object.keys(params).length) msg.params = params;
  return msg;
}
