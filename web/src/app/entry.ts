// Which page `/` is: a URL with a query other than user/role/token is direct
// play (the bare stream page the tests and benchmarks open); everything else
// is the app.
const APP_PARAMS = new Set(['user', 'role', 'token']);

export function isDirectPlay(path: string, query: URLSearchParams): boolean {
  if (path !== '/' && path !== '/index.html') return false;
  // Clerk's sign-in redirects come back with `__clerk_…` parameters.
  return [...query.keys()].some((k) => !APP_PARAMS.has(k) && !k.startsWith('__clerk'));
}
