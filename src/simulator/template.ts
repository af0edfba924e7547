/**
 * The pull URL template of Ping for Pull (README, `register-pull-url`):
 * `{id}` is replaced by the user id and the token is appended as one more
 * query parameter.
 */

/** Why a template cannot be registered, or undefined when it can. */
export function templateProblem(template: string): string | undefined {
  if (!template.includes('{id}')) return 'pull_profile_url must contain {id}';
  let url: URL;
  try {
    url = new URL(template.replaceAll('{id}', 'id'));
  } catch {
    return 'pull_profile_url must be an absolute http(s) URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'pull_profile_url must be an absolute http(s) URL';
  return undefined;
}

/**
 * `https://h/p/{id}` → `https://h/p/u1?lftoken=…`;
 * `https://h/p/?id={id}` → `https://h/p/?id=u1&lftoken=…`.
 * The token goes before any fragment, which a browser would never send.
 * The ids `.` and `..` match the id pattern but are dot segments in a path
 * template: URL parsers (undici's too) drop them, even percent-encoded, so
 * only a query template can carry them.
 */
export function buildPullUrl(template: string, id: string, token: string): string {
  const hash = template.indexOf('#');
  const base = hash === -1 ? template : template.slice(0, hash);
  const url = base.replaceAll('{id}', encodeURIComponent(id));
  const separator = !url.includes('?') ? '?' : url.endsWith('?') || url.endsWith('&') ? '' : '&';
  return `${url}${separator}lftoken=${encodeURIComponent(token)}`;
}
