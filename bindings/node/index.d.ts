// index.d.ts: the types of the wxshm package (read wxtokend's shared-memory token, refresh a refused one).

export type State =
  'starting' | 'fresh' | 'refreshing' | 'retrying' | 'config_error' | 'quota' | 'stopped' | 'unknown';

export type Code =
  'ENOENT' | 'ENXIO' | 'EIDRM' | 'EACCES' | 'EPERM' | 'EBADMSG' | 'EPROTONOSUPPORT' | 'ENODATA' |
  'EAGAIN' | 'ETIMEDOUT' | 'EIO' | 'EBUSY' | 'ECONNREFUSED' | 'EPROTO' | 'EINVAL' | string;

export interface OpenOptions {
  /** Segment directory; default $WXSHM_DIR (absolute, < 256 bytes) or /dev/shm/wxtokend. */
  dir?: string;
  /** The agent's control socket; default $WXTOKEND_SOCKET or /run/wxtokend/wxtokend.sock. */
  socket?: string;
}

export interface RefreshOptions {
  /** How long the agent may take; <= 0 or absent means 5000, more than 60000 is cut to 60000. */
  timeoutMs?: number;
  /** Resolve to the new Token instead of its generation. */
  token?: boolean;
}

export class Token {
  readonly token: string;
  /** +1 for every new token; always below 2^53, so a Number. */
  readonly generation: number;
  readonly expiresAtMs: number;
  readonly fetchedAtMs: number;
  readonly state: State;
  /** The token expired; it is returned anyway (WeChat often accepts it a little longer). */
  readonly stale: boolean;
  readonly agentAlive: boolean;
  readonly agentPid: number;
  readonly lastErrcode: number;
}

export class Handle {
  readonly item: string;
  /** The current token; no system call. Throws WxShmError. */
  read(): Token;
  /** WeChat refused the token of `generation` (40001/40014/42001): ask the agent for a newer one. */
  refresh(generation: number | bigint, opts?: RefreshOptions & { token?: false }): Promise<number>;
  refresh(generation: number | bigint, opts: RefreshOptions & { token: true }): Promise<Token>;
  close(): void;
}

export class WxShmError extends Error {
  readonly code: Code;
  /** Negative, as in Node's system errors: -os.constants.errno[code]. */
  readonly errno: number | undefined;
  readonly item: string | undefined;
  /** EAGAIN from a rate-limited refresh: when to try again. */
  readonly retryAfterMs?: number;
  readonly syscall?: string;
}

export const codes: Readonly<{
  NOT_FOUND: 'ENOENT'; REMOVED: 'ENXIO'; RETIRED: 'EIDRM'; ACCESS_DENIED: 'EACCES'; NOT_TRUSTED: 'EPERM';
  CORRUPT: 'EBADMSG'; NEWER_VERSION: 'EPROTONOSUPPORT'; NO_TOKEN_YET: 'ENODATA'; BUSY: 'EAGAIN';
  TIMED_OUT: 'ETIMEDOUT'; UPSTREAM_FAILED: 'EIO'; TOO_MANY_WAITERS: 'EBUSY'; AGENT_NOT_RUNNING: 'ECONNREFUSED';
  BAD_REPLY: 'EPROTO'; INVALID: 'EINVAL';
}>;

export const STATES: readonly State[];
export const TOKEN_MAX: 2048;

/** Open an item's segment: "shop", or a ticket "shop.jsapi". Throws WxShmError. */
export function open(item: string, opts?: OpenOptions): Handle;

/** Close the kept-alive socket connections (they never keep the process alive anyway). */
export function closeIdle(): void;
