import type { PubSub } from '../pubsub.js';
import type { RequestLog } from '../schema/request-log.js';
import type { CaptureOptions } from './capture-options.js';
import { resolveCaptureOptions } from './capture-options.js';
import type { CapturedRequest } from './captured-request.js';
import { deriveLog, type DeriveContext } from './derive-log.js';
import type { IgnoreMatcher, IgnoreRequest, IgnoreResponseRule } from './ignore.js';
import { targetPath } from './target-path.js';
import { activeSpan } from './trace-context.js';
import { openTelemetry } from '../shared/open-telemetry.js';
import { attributeDropReasons, type AttributeDropReason } from './attributes.js';
import { ReportThrottle } from './report-throttle.js';
import { consumerDropReasons, type ConsumerDropReason } from './consumer.js';
import { DropCounter, type DroppedInfo } from './drop-counter.js';
import { redactFailReasons, type RedactFailReason } from './redact.js';
import type { Sessions } from './sessions.js';
import type { VisitorIds } from './visitor-ids.js';
import { errorMessage } from '../shared/describe-error.js';

export type { CaptureOptions } from './capture-options.js';
export { defaultIgnore, defaultProbePaths, type IgnoreRule, type IgnoreRequest, type IgnoreResponse, type IgnoreResponseRule } from './ignore.js';

/** A captured request whose fields are read only when its batch is derived (the node:http middleware's state). */
export interface DeferredRequest {
  toCapturedRequest(): CapturedRequest;
}

/** What {@link Recorder.onAttributesDropped} is told: a reason, what was dropped, and how many requests lost attributes for it since the last report. */
export type AttributesDroppedInfo = DroppedInfo<AttributeDropReason>;

/** What {@link Recorder.onConsumerDropped} is told. */
export type ConsumerDroppedInfo = DroppedInfo<ConsumerDropReason>;

/** What {@link Recorder.onErrorDropped} is told (reason `unreadable`: the error could not be read, or was reported too late). */
export type ErrorDroppedInfo = DroppedInfo<'unreadable'>;

/** What {@link Recorder.onRedactionFailed} is told: `threw` (`redact.fn` or `redactErrorMessage`) or `invalid` (it returned what cannot be stored); the fields concerned were masked. */
export type RedactionFailedInfo = DroppedInfo<RedactFailReason>;

/** What {@link Recorder.onRefererHostRejected} is told: how many referers had a host that is not a host name or IP literal since the last report, and this one's authority. */
export interface RefererHostRejectedInfo {
  /** Requests whose referer host was rejected since the last report (this one included). */
  count: number;
  /** The rejected authority text (at most 80 characters). */
  detail: string;
}

/** Requests derived per turn of the event loop; more wait for the next turn, so one batch never blocks the loop for long. */
const MAX_BATCH = 2_048;

/**
 * Turns captured requests into RequestLogs and broadcasts them. Behind the
 * public `pulse.record()` used by every adapter.
 *
 * The request path only appends to a buffer ({@link Recorder.record},
 * {@link Recorder.defer}); the ignore rules and the derived fields
 * ({@link deriveLog}: sanitising, client address, visitor hash, session,
 * device/browser/OS, ids, wall-clock time) are computed in batches in a
 * `setImmediate` after the I/O of the current loop turn, before the logs are
 * published, so subscribers always receive complete RequestLogs.
 */
export class Recorder {
  private readonly ignoreMatcher: IgnoreMatcher | undefined;
  private readonly ignoreResponse: IgnoreResponseRule | undefined;
  readonly context: DeriveContext;
  /** Requests that could not be recorded (a bug or impossible input); never thrown at the app. */
  failures = 0;
  /** Requests recorded and broadcast. */
  captured = 0;
  /** Finished requests handed to the recorder (queued, derived or not). */
  received = 0;
  /** Called with each log right after it is broadcast, in the capture batch (the HTTP server metrics); a throw counts as a failure. */
  onCaptured: ((log: RequestLog) => void) | undefined;
  /** Called with each capture failure (the Pulse emits it as `captureError`). */
  onFailure: ((error: Error) => void) | undefined;
  /** Called at most once a minute per reason when attributes are dropped (the Pulse emits it as `attributesDropped`). */
  onAttributesDropped: ((info: AttributesDroppedInfo) => void) | undefined;
  /** Requests whose referer had a host that is not a host name or IP literal (stored with `referer_host` null). */
  refererHostsRejected = 0;
  /** Called at most once a minute when referer hosts are rejected (the Pulse emits it as `refererHostRejected`). */
  onRefererHostRejected: ((info: RefererHostRejectedInfo) => void) | undefined;
  /** At most one referer report a minute (a bad referer may come with every request). */
  private readonly reports = new ReportThrottle<'referer_host'>();
  private readonly attributeDrops = new DropCounter(attributeDropReasons, () => this.onAttributesDropped);
  /** Requests whose custom attributes were (partly) dropped, by reason. */
  readonly attributesDropped = this.attributeDrops.counts;
  /** Called at most once a minute per reason when consumers are dropped (the Pulse emits it as `consumerDropped`). */
  onConsumerDropped: ((info: ConsumerDroppedInfo) => void) | undefined;
  /** Called at most once a minute when request errors are dropped (the Pulse emits it as `errorDropped`). */
  onErrorDropped: ((info: ErrorDroppedInfo) => void) | undefined;
  private readonly consumerDrops = new DropCounter(consumerDropReasons, () => this.onConsumerDropped);
  private readonly errorDrops = new DropCounter(['unreadable'] as const, () => this.onErrorDropped);
  /** Requests whose consumer was dropped, by reason. */
  readonly consumersDropped = this.consumerDrops.counts;
  /** Called at most once a minute per reason when a redaction fails (the Pulse emits it as `redactionFailed`). */
  onRedactionFailed: ((info: RedactionFailedInfo) => void) | undefined;
  private readonly redactionFailures = new DropCounter(redactFailReasons, () => this.onRedactionFailed);
  /** Requests whose redaction failed (their fields were masked), by reason. */
  readonly redactionsFailed = this.redactionFailures.counts;
  /** Request errors attached too late (after their request was recorded) or unreadable. */
  errorsDropped = 0;
  private pending: (CapturedRequest | DeferredRequest)[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private readonly drainBatch = () => {
    this.scheduled = undefined;
    this.derive(MAX_BATCH);
  };

  constructor(
    private readonly pubsub: PubSub,
    visitorIds: VisitorIds,
    sessions: Sessions,
    nodeId: string,
    options: CaptureOptions = {},
  ) {
    const resolved = resolveCaptureOptions(options);
    this.ignoreMatcher = resolved.ignore;
    this.ignoreResponse = resolved.ignoreResponse;
    this.context = {
      ...resolved.context,
      nodeId,
      visitorIds,
      sessions,
      dropAttributes: (reason, detail, error) => this.attributeDrops.drop(reason, detail, error),
      rejectRefererHost: (detail) => this.rejectRefererHost(detail),
      dropConsumer: (reason, detail, error) => this.consumerDrops.drop(reason, detail, error),
      dropError: (detail, error) => this.dropError(detail, error),
      redactFailed: (reason, detail, error) => this.redactionFailures.drop(reason, detail, error),
    };
    // Loaded now rather than on the first request (it is an optional peer dependency).
    openTelemetry();
  }

  /** Whether a request is excluded by the `ignore` rules. A throwing rule counts as a failure and the request is recorded. */
  ignores(request: IgnoreRequest): boolean {
    if (this.ignoreMatcher === undefined) return false;
    try {
      return this.ignoreMatcher(request);
    } catch (error) {
      this.fail(error);
      return false;
    }
  }

  /** Whether the `ignoreResponse` option drops a finished request. A throwing predicate counts as a failure and the request is recorded. */
  private ignoresResponse(rule: IgnoreResponseRule, request: CapturedRequest): boolean {
    try {
      const response = {
        method: request.method ?? 'GET',
        path: targetPath(request.url),
        headers: request.headers,
        statusCode: request.statusCode,
        route: request.route ?? null,
        durationMs: request.durationMs,
      };
      return rule(response);
    } catch (error) {
      this.fail(error);
      return false;
    }
  }

  /**
   * Queues a finished request; its log is derived and broadcast in the next
   * batch. Without a `span`, keeps the OpenTelemetry span active now (the
   * adapter calls it while the request's context is current). Never throws.
   */
  record(request: CapturedRequest): void {
    if (request.span === undefined) {
      const span = activeSpan();
      if (span) request = { ...request, span };
    }
    this.defer(request);
  }

  /** Queues a request whose fields are read in the next batch. Never throws. */
  defer(request: CapturedRequest | DeferredRequest): void {
    this.received++;
    this.pending.push(request);
    this.scheduled ??= setImmediate(this.drainBatch);
  }

  /** Derives and broadcasts everything queued so far, now (used by `flush()` and `close()`). */
  drain(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.derive(Number.POSITIVE_INFINITY);
  }

  /** Requests queued and not yet broadcast. */
  get queued(): number {
    return this.pending.length;
  }

  private derive(limit: number): void {
    let batch = this.pending;
    if (batch.length > limit) {
      this.pending = batch.slice(limit);
      batch = batch.slice(0, limit);
      this.scheduled = setImmediate(this.drainBatch);
    } else {
      this.pending = [];
    }
    // One clock reading per batch: wall-clock start = now - (monotonic now - monotonic start).
    const wallNow = Date.now();
    const monotonicNow = performance.now();
    for (const item of batch) {
      try {
        const request = 'toCapturedRequest' in item ? item.toCapturedRequest() : item;
        if (this.ignoreMatcher !== undefined && this.ignores({ method: request.method ?? 'GET', path: targetPath(request.url), headers: request.headers }))
          continue;
        if (this.ignoreResponse !== undefined && this.ignoresResponse(this.ignoreResponse, request)) continue;
        const log = deriveLog(request, this.context, wallNow - (monotonicNow - request.startMs));
        this.pubsub.publish(log);
        this.captured++;
        this.onCaptured?.(log);
      } catch (error) {
        this.fail(error);
      }
    }
  }

  /** Counts a referer whose host was rejected; reports it at most once a minute. */
  private rejectRefererHost(detail: string): void {
    this.refererHostsRejected++;
    const count = this.reports.occurred('referer_host');
    if (count === 0) return;
    try {
      this.onRefererHostRejected?.({ count, detail });
    } catch {
      // A throwing event listener must not reach the app's request.
    }
  }

  /** Counts a request error that is not stored (unreadable, or reported after its request was recorded). */
  dropError(detail: string, error?: Error): void {
    this.errorsDropped++;
    this.errorDrops.drop('unreadable', detail, error);
  }

  /** Counts a request that could not be recorded and reports it (`onFailure`); never throws. */
  fail(error: unknown): void {
    this.failures++;
    if (!this.onFailure) return;
    try {
      this.onFailure(new Error(`pgpulse capture: a request could not be recorded: ${errorMessage(error)}`, { cause: error }));
    } catch {
      // A throwing event listener must not reach the app's request.
    }
  }
}
