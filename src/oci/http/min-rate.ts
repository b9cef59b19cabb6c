/**
 * The minimum-rate layer: a response body must bring at least `bytesPerSecond` on average over every
 * `windowMs` (curl's --speed-limit/--speed-time, git's http.lowSpeedLimit/lowSpeedTime). The idle
 * timeout only bounds silence, so a registry trickling one byte a second would hold a blob request
 * forever and a manifest request until its per-request deadline, again on every retry. A slow but
 * honest registry passes: the default asks for 1 KiB/s over 30 s, and a body that ends before a whole
 * window has passed is never judged.
 *
 * A body below the rate fails with E_REGISTRY_TOO_SLOW, not retried: a registry that sent less than
 * the minimum for a whole window will most likely do it again, and four attempts would make one
 * trickle cost four windows.
 */
import { Readable } from 'stream';
import { RegistryError } from '../../errors';
import type { Exchange, RegistryRequest, ResponseReader } from './exchange';

export interface MinRate {
  /** Least average rate of a response body; 0 turns the check off. */
  bytesPerSecond: number;
  /** The window the rate is averaged over (sliding). */
  windowMs: number;
}

export const DEFAULT_MIN_RATE: MinRate = { bytesPerSecond: 1024, windowMs: 30_000 };

/** The window is kept as this many slices: the rate is checked once per slice. */
const SLICES = 10;

/** Counts bytes per slice of the window; calls `tooSlow` when a whole window brought less than the rate. */
class RateMeter {
  private readonly slices: number[] = [];
  private current = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(rule: MinRate, tooSlow: () => void) {
    const need = (rule.bytesPerSecond * rule.windowMs) / 1000;
    this.timer = setInterval(
      () => {
        this.slices.push(this.current);
        this.current = 0;
        if (this.slices.length > SLICES) this.slices.shift();
        if (this.slices.length === SLICES && this.slices.reduce((a, b) => a + b, 0) < need) {
          this.stop();
          tooSlow();
        }
      },
      Math.max(1, rule.windowMs / SLICES),
    );
  }

  add(bytes: number): void {
    this.current += bytes;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function tooSlow(req: RegistryRequest, rule: MinRate): RegistryError {
  return new RegistryError({
    code: 'E_REGISTRY_TOO_SLOW',
    message: `${req.url} sent less than ${rule.bytesPerSecond} bytes/s on average over ${rule.windowMs / 1000} s; the request was stopped`,
    context: { url: req.url },
    hint: 'check the network or the registry; --min-rate 0 turns this check off',
  });
}

/** Decorator: stops a request whose response body comes in below the minimum rate (see the file comment). */
export function withMinRate(next: Exchange, rule: MinRate = DEFAULT_MIN_RATE): Exchange {
  if (!(rule.bytesPerSecond > 0) || !(rule.windowMs > 0)) return next;
  return async <T>(req: RegistryRequest, read: ResponseReader<T>): Promise<T> => {
    const own = new AbortController();
    // The transport fails an aborted request with the signal's reason: ours, when the rate stopped it.
    const signal = req.signal ? AbortSignal.any([req.signal, own.signal]) : own.signal;
    return next({ ...req, signal }, async (res) => {
      const meter = new RateMeter(rule, () => own.abort(tooSlow(req, rule)));
      const source = res.body;
      const body = Readable.from(
        (async function* () {
          for await (const chunk of source) {
            meter.add((chunk as Buffer).length);
            yield chunk as Buffer;
          }
        })(),
        { objectMode: false },
      );
      try {
        return await read({ url: res.url, status: res.status, headers: res.headers, body });
      } finally {
        meter.stop();
        if (!body.readableEnded) body.destroy();
      }
    });
  };
}
