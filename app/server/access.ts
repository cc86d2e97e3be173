// Who may use `studio serve`. Bound to loopback, the studio is the local user's: requests must name a
// loopback host (so a web page cannot reach it through DNS rebinding) and come from the studio's own
// origin. Bound to any other address it is reachable from the network, so a token is required.
import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

export const MIN_TOKEN_LENGTH = 16;

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** Throws when the bind address and token do not go together; returns the token to enforce, if any. */
export function checkBinding(host: string, token: string | undefined): string | undefined {
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new Error(`studio serve: the token must be at least ${MIN_TOKEN_LENGTH} characters (a long random string)`);
  }
  if (!isLoopbackHost(host) && token === undefined) {
    throw new Error(
      `studio serve: binding to ${host} makes the studio reachable from other machines; give a token of at least ${MIN_TOKEN_LENGTH} characters, or bind to 127.0.0.1`,
    );
  }
  return token;
}

export function tokenMatches(expected: string | undefined, given: string | null): boolean {
  if (expected === undefined) return true;
  if (given === null) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The `Host` header's host name without the port. */
function hostName(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1);
  return hostHeader.replace(/:\d+$/, '');
}

export interface AccessRequest {
  hostHeader: string | undefined;
  origin: string | undefined;
  token: string | null;
}

/** Undefined when the request may proceed, else why not (for a 403 body). */
export function denyReason(req: AccessRequest, o: { loopbackOnly: boolean; token: string | undefined }): string | undefined {
  if (!req.hostHeader) return 'the request has no Host header';
  if (o.loopbackOnly && !isLoopbackHost(hostName(req.hostHeader))) {
    return `host "${req.hostHeader}" is not this machine; open the studio at http://127.0.0.1`;
  }
  if (req.origin !== undefined && req.origin !== `http://${req.hostHeader}`) {
    return `origin ${req.origin} is not the studio's own page`;
  }
  if (!tokenMatches(o.token, req.token)) return 'a valid token is required: open the URL that `studio serve` printed';
  return undefined;
}
