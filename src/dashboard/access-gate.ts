import type { IncomingMessage, ServerResponse } from 'node:http';
import { compileTrustProxy, type TrustFunction, type TrustProxy } from '../capture/trust-proxy.js';
import { clientView, isCrossSite, isLocalRequest, isLoopbackHost } from './client-address.js';
import { FailureLimiter } from './failure-limiter.js';
import { SECURITY_HEADERS, sendForbidden, sendUnauthorized } from './http-responses.js';
import { readForm } from './read-form.js';
import { cookiePath, type RequestTarget } from './request-target.js';
import { staticAsset } from './static-assets.js';
import { cookieValue, presentedToken, SESSION_COOKIE, SESSION_TTL_MS, sessionValue, tokensEqual, validSession } from './token-gate.js';

/** Who may use the dashboard: the options of {@link AccessGate}. */
export interface AccessOptions {
  token?: string | undefined;
  public?: boolean | undefined;
  trustProxy?: TrustProxy | undefined;
  secureCookies?: boolean | undefined;
}

/** What the gate counts (merged into the dashboard's stats). */
export interface AccessCounters {
  unauthorized: number;
  rateLimited: number;
  forbidden: number;
}

/**
 * The dashboard's front door. With a token: a signed session cookie or a
 * Bearer token lets a request in; a correct token always works, wrong ones
 * are throttled per client (as the proxy trust resolves it), and logins and
 * logouts from other sites are refused. Without a token: this machine only,
 * unless `public`.
 */
export class AccessGate {
  readonly counters: AccessCounters = { unauthorized: 0, rateLimited: 0, forbidden: 0 };
  private readonly failures = new FailureLimiter();
  private readonly trust: TrustFunction | undefined;

  constructor(private readonly options: AccessOptions) {
    this.trust = options.trustProxy === undefined ? undefined : compileTrustProxy(options.trustProxy);
  }

  /** Answers requests that may not go on (login form, 401, 403, 429, login and logout); true when the request may go on. */
  async admit(req: IncomingMessage, res: ServerResponse, target: RequestTarget): Promise<boolean> {
    const token = this.options.token;
    if (token === undefined) return this.admitWithoutToken(req, res);
    const changes = req.method === 'POST' && (target.path === '/api/session' || target.path === '/api/logout');
    if (changes && isCrossSite(req)) {
      this.counters.forbidden++;
      sendForbidden(res, 'pgpulse dashboard: cross-site request refused (the login and logout forms only work from the dashboard page itself)');
      return false;
    }
    if (req.method === 'POST' && target.path === '/api/logout') {
      this.logout(res, target);
      return false;
    }
    if (validSession(cookieValue(req.headers.cookie, SESSION_COOKIE), token)) return true;
    if (req.method === 'POST' && target.path === '/api/session') {
      await this.login(req, res, target, token);
      return false;
    }
    const bearer = presentedToken(req);
    if (bearer !== undefined && tokensEqual(bearer, token)) return true;
    this.counters.unauthorized++;
    if (bearer !== undefined) return this.failed(req, res, () => sendUnauthorized(res));
    // The stylesheet is public so the login form is styled; it holds no data.
    if (target.path === '/style.css') return true;
    if (target.path === '/' && req.method === 'GET') await this.serveLogin(res, target.search.get('login') === 'failed', viewQuery(target.search));
    else sendUnauthorized(res);
    return false;
  }

  private admitWithoutToken(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.options.public === true || (isLocalRequest(req) && isLoopbackHost(req.headers.host))) return true;
    this.counters.forbidden++;
    sendForbidden(
      res,
      'pgpulse dashboard: no `token` is set, so the dashboard answers only this machine (loopback, reached as localhost or 127.0.0.1). ' +
        'Set the `token` option (--token or PGPULSE_TOKEN for `pgpulse dashboard`), or `public: true` (--public) to serve anyone who can reach it.',
    );
    return false;
  }

  /** A wrong token: counted against the client; once it failed too often, 429 instead of `answer`. Always false. */
  private failed(req: IncomingMessage, res: ServerResponse, answer: () => void): false {
    const client = clientView(req, this.trust).address;
    const wait = this.failures.retryAfterMs(client);
    if (wait > 0) {
      this.counters.rateLimited++;
      res.writeHead(429, { 'retry-after': String(Math.ceil(wait / 1000)), 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
      res.end('pgpulse dashboard: too many wrong tokens from this address; try again later (the right token is always accepted)');
      return false;
    }
    this.failures.fail(client);
    answer();
    return false;
  }

  /** `POST /api/session` with `token` (form or JSON): sets the session cookie; the form is redirected back to the page. */
  private async login(req: IncomingMessage, res: ServerResponse, target: RequestTarget, token: string): Promise<void> {
    const form = await readForm(req);
    const json = !(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    if (form.token === undefined || !tokensEqual(form.token, token)) {
      this.counters.unauthorized++;
      this.failed(req, res, () => {
        if (json) sendUnauthorized(res);
        else res.writeHead(303, { location: `../?${failedQuery(form.return)}`, 'cache-control': 'no-store', ...SECURITY_HEADERS }).end();
      });
      return;
    }
    const secure = this.options.secureCookies === true || clientView(req, this.trust).https ? '; Secure' : '';
    const cookie = `${SESSION_COOKIE}=${sessionValue(token)}; HttpOnly; SameSite=Strict; Path=${sessionPath(target)}; Max-Age=${SESSION_TTL_MS / 1000}${secure}`;
    res
      .writeHead(json ? 204 : 303, {
        'set-cookie': cookie,
        'cache-control': 'no-store',
        ...(json ? {} : { location: returnLocation(form.return) }),
        ...SECURITY_HEADERS,
      })
      .end();
  }

  private logout(res: ServerResponse, target: RequestTarget): void {
    const cookie = `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=${sessionPath(target)}; Max-Age=0`;
    res.writeHead(303, { 'set-cookie': cookie, location: '../', 'cache-control': 'no-store', ...SECURITY_HEADERS }).end();
  }

  private async serveLogin(res: ServerResponse, failed: boolean, view: string): Promise<void> {
    const asset = (await staticAsset('/login.html'))!;
    const error = failed ? '<p class="error" role="alert">That token is not right.</p>' : '';
    const message = view ? `${error}<input type="hidden" name="return" value="${escapeAttribute(`?${view}`)}">` : error;
    res.writeHead(401, { 'content-type': asset.type, 'cache-control': 'no-store', 'www-authenticate': 'Bearer realm="pgpulse"', ...SECURITY_HEADERS });
    res.end(asset.body.toString('utf8').replace('<!--message-->', message));
  }
}

/**
 * The page's query string without the login form's own `login` marker: the
 * view (range, filters, time zone) to come back to after signing in.
 */
function viewQuery(search: URLSearchParams): string {
  const view = new URLSearchParams(search);
  view.delete('login');
  return view.toString();
}

/**
 * Where a successful form login goes: the dashboard page with the view's query
 * kept. Only a query string (`?…`) is accepted, re-encoded, and always appended
 * to `../` (the page itself), so a crafted `//host`, `https://…` or path cannot
 * send the browser anywhere else.
 */
export function returnLocation(returnTo: string | undefined): string {
  if (returnTo === undefined || !returnTo.startsWith('?')) return '../';
  const query = viewQuery(new URLSearchParams(returnTo.slice(1)));
  return query ? `../?${query}` : '../';
}

/** Query of the login form after a wrong token: `login=failed` plus the view being returned to. */
function failedQuery(returnTo: string | undefined): string {
  const location = returnLocation(returnTo);
  return location === '../' ? 'login=failed' : `login=failed&${location.slice('../?'.length)}`;
}

const escapeAttribute = (value: string) => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Cookie path of the mount point (the page's directory), from a path inside the dashboard. */
function sessionPath(target: RequestTarget): string {
  const inside = target.path === '/' ? '' : target.path;
  const mount = target.requestedPath.endsWith(inside) ? target.requestedPath.slice(0, target.requestedPath.length - inside.length) : '/';
  return cookiePath({ ...target, requestedPath: mount.endsWith('/') ? mount : `${mount}/` });
}
