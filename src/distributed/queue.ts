import * as crypto from 'crypto';
import { CALIBRATIONS } from '../prompt/calibration';
import { z } from 'zod';
import { UserError } from '../errors';
import { canonicalJson } from '../util/canonicalJson';
import type { Cell } from '../reports/leaderboardTable';
import type { BestResult } from '../runner/run';
import type { RefineResult } from '../refine/refine';

/** The BullMQ queue workers and submitters share unless told another (`--queue`: several teams on one Redis). */
export const QUEUE_NAME = 'promptsearch';

export function checkQueueName(name: string): string {
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(name))
    throw new UserError(`--queue: '${name}' is not a queue name (letters, digits, . _ -)`);
  return name;
}
/** Job payload format version; a worker refuses other versions. */
export const PAYLOAD_VERSION = 1;
/** Attempts per job before it is reported failed (a stalled worker's job counts as one too). */
export const JOB_ATTEMPTS = 3;

/**
 * How a job's failure reason marks a user error (a bad config, data or budget): the job fails at
 * once instead of being tried JOB_ATTEMPTS times, and the submitter exits 2 as a local run would.
 */
export const USER_ERROR_MARK = 'user error: ';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a hex sha256');
const safeName = z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'expected letters, digits, . _ -');

/** One data split: a bundled task split (the worker reads its own copy) or the file's content. */
const dataRef = z
  .object({
    sha256,
    task: z
      .object({ name: z.string().min(1), seed: z.number().int() })
      .strict()
      .optional(),
    file: z.object({ name: safeName, content: z.string() }).strict().optional(),
  })
  .strict()
  .refine((d) => !!d.task !== !!d.file, 'needs exactly one of task, file');

const modelRef = z
  .object({ name: z.string().min(1), dtype: z.enum(['fp32', 'int8']), sha256, tokenizerSha256: sha256 })
  .strict();

const searchJob = z
  .object({
    v: z.literal(PAYLOAD_VERSION),
    kind: z.literal('search'),
    /** The run directory's name (best.json's runId), the same as a local run's. */
    runName: safeName,
    /** The resolved search config; validated again like a config file. */
    config: z.record(z.string(), z.unknown()),
    model: modelRef,
    data: z.object({ train: dataRef, dev: dataRef, test: dataRef.optional() }).strict(),
    /** promptsearch version of the submitter (a worker of another version refuses the job). */
    version: z.string(),
  })
  .strict();

const manualJob = z
  .object({
    v: z.literal(PAYLOAD_VERSION),
    kind: z.literal('manual'),
    method: z.string().min(1),
    task: z.string().min(1),
    seed: z.number().int(),
    /** The suite's base config merged with its per-task override and the method's config (model, dtype, template, verbalizer). */
    base: z.record(z.string(), z.unknown()),
    /** The manual prompt's calibration (absent: raw), or the linear probe instead of the prompt. */
    calibration: z.enum(CALIBRATIONS).optional(),
    probe: z.boolean().optional(),
    model: modelRef,
    data: z.object({ train: dataRef.optional(), dev: dataRef, test: dataRef }).strict(),
    version: z.string(),
  })
  .strict();

export const jobPayload = z.discriminatedUnion('kind', [searchJob, manualJob]);
export type DataRef = z.infer<typeof dataRef>;
export type ModelRef = z.infer<typeof modelRef>;
export type SearchJob = z.infer<typeof searchJob>;
export type ManualJob = z.infer<typeof manualJob>;
export type JobPayload = z.infer<typeof jobPayload>;

/** What a worker hands back: the run directory's files and the numbers the submitter reports. */
export interface JobResult {
  kind: JobPayload['kind'];
  /** Run directory files, relative path → base64 content (search jobs). */
  files?: Record<string, string>;
  best?: BestResult;
  refined?: RefineResult;
  /** Manual jobs: the finished cell. */
  cell?: Cell;
  worker: string;
}

/** Validates a job payload; the message names the first bad field (like a config file error). */
export function parsePayload(raw: unknown, where: string): JobPayload {
  const r = jobPayload.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new UserError(`${where}: invalid job payload at '${issue.path.join('.') || '(root)'}': ${issue.message}`);
}

/** A deterministic job id: the same work always gets the same id, so resubmitting never duplicates it. */
export function jobId(payload: JobPayload): string {
  const h = crypto.createHash('sha256').update(canonicalJson(payload)).digest('hex').slice(0, 24);
  return `${payload.kind}-${h}`;
}

export function sha256Text(s: string): string {
  return crypto.createHash('sha256').update(Buffer.from(s, 'utf8')).digest('hex');
}

/** ioredis connection options from a redis:// or rediss:// (TLS) URL, user and password included. */
export interface RedisConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls?: Record<string, never>;
}

export function parseRedisUrl(url: string): RedisConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(
      `--redis: '${url}' is not a URL (expected redis://[user:password@]host[:port][/db] or rediss://...)`,
    );
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new UserError(`--redis: unsupported scheme '${u.protocol}' (use redis:// or rediss:// for TLS)`);
  if (!u.hostname) throw new UserError(`--redis: '${redactUrl(url)}' has no host`);
  const port = u.port ? Number(u.port) : 6379;
  const dbText = u.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d+$/.test(dbText)) throw new UserError(`--redis: database '${dbText}' is not a number`);
  const c: RedisConnection = { host: u.hostname.replace(/^\[|\]$/g, ''), port, db: dbText === '' ? 0 : Number(dbText) };
  if (u.username) c.username = decodeURIComponent(u.username);
  if (u.password) c.password = decodeURIComponent(u.password);
  if (u.protocol === 'rediss:') c.tls = {};
  return c;
}

/** The URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/**
 * BullMQ connection options: commands wait while Redis is away (a restart does not fail the
 * worker or the submitter) and reconnects back off up to 2 s.
 */
export function connectionOptions(url: string) {
  return {
    ...parseRedisUrl(url),
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
  };
}
