import type { OperatorConsole } from './console.js';
import { CONTENT_SECURITY_POLICY, renderConsole } from './page.js';

/** A response of the metrics listener's extra pages. */
export interface PageResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** `GET /` (the console) and `GET /status.json` (the same figures), for the metrics listener. */
export function consoleRoutes(
  operatorConsole: OperatorConsole,
  refreshSeconds: number,
): Record<string, () => Promise<PageResponse>> {
  return {
    '/': async () => ({
      status: 200,
      headers: {
        ...COMMON_HEADERS,
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': CONTENT_SECURITY_POLICY,
      },
      body: renderConsole(await operatorConsole.view(), refreshSeconds),
    }),
    '/status.json': async () => ({
      status: 200,
      headers: { ...COMMON_HEADERS, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(await operatorConsole.view()),
    }),
  };
}
