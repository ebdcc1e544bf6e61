/**
 * @seecodes/client: the Jira App and IDE protocols of a seecodes server, on fetch (Node 20, VS
 * Code's extension host). The types are generated from the server's OpenAPI document
 * (schema.d.ts); the protocol rules are here, the same as the Python library's:
 *
 * - a Jira App session keeps one request-key chain: it sends the current key, takes the successor
 *   from every answer (errors included), runs one call at a time, and starts a new chain once when
 *   the server revoked or expired the old one;
 * - a launch code is exchanged exactly once, never retried (a second exchange revokes the permit);
 * - a run's events are followed with `Last-Event-ID`, resumed after a cut without a duplicate.
 */
import type { components } from "./schema.js";

export type Schemas = components["schemas"];
export type RunStatus = Schemas["RunStatus"];

const REQUEST_KEY_HEADER = "X-SeeCodes-Jira-Request-Key";
const NEXT_REQUEST_KEY_HEADER = "X-SeeCodes-Next-Request-Key";
const CHAIN_LOST = new Set(["request_key_replayed", "request_key_expired", "request_key_invalid", "request_key_missing"]);
const SETTLED = new Set<RunStatus>(["succeeded", "failed", "cancelled", "rejected"]);

/** A non-2xx answer: the server's envelope, whole. */
export class SeecodesError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly extras: Record<string, unknown> = {},
  ) {
    super(`${status} ${code}: ${detail}`);
    this.name = "SeecodesError";
  }

  static async of(response: Response): Promise<SeecodesError> {
    const text = await response.text();
    try {
      const body = JSON.parse(text) as Record<string, unknown>;
      if (body.ok === false && typeof body.error === "string") {
        const { ok: _ok, error, detail, ...extras } = body;
        const kind = CHAIN_LOST.has(error) || error === "request_key_mismatch"
          ? ChainLost
          : error.startsWith("launch_code_")
            ? LaunchCodeRefused
            : SeecodesError;
        return new kind(response.status, error, String(detail ?? ""), extras);
      }
    } catch {
      // not the envelope: a proxy's page, say
    }
    return new SeecodesError(response.status, "http_error", text.slice(0, 200) || response.statusText);
  }
}

/** The request-key chain is gone, and starting it again once did not help. */
export class ChainLost extends SeecodesError {}

/** The launch code cannot be exchanged (replayed: the permit it minted is revoked; expired; unknown). */
export class LaunchCodeRefused extends SeecodesError {}

/** The exchange was sent and no answer came back. Not retried: open the task from Jira again. */
export class ExchangeOutcomeUnknown extends Error {}

async function checked(response: Response): Promise<Response> {
  if (response.ok) return response;
  throw await SeecodesError.of(response);
}

function url(base: string, path: string, query?: Record<string, string>): string {
  const target = new URL(path, base.endsWith("/") ? base : `${base}/`);
  for (const [name, value] of Object.entries(query ?? {})) target.searchParams.set(name, value);
  return target.toString();
}

export interface CallOptions {
  json?: unknown;
  query?: Record<string, string>;
}

/** A Jira App session. `fit` returns a fresh Forge invocation token. */
export class JiraApp {
  private key: string | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly baseUrl: string,
    private readonly fit: () => string | Promise<string>,
  ) {}

  /** Any Jira App operation; calls on one session run one at a time. */
  call(method: string, path: string, options: CallOptions = {}): Promise<Response> {
    const turn = this.queue.then(() => this.send(method, path, options));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async bearer(): Promise<Record<string, string>> {
    return { Authorization: `Bearer ${await this.fit()}` };
  }

  private async send(method: string, path: string, options: CallOptions): Promise<Response> {
    for (const attempt of [0, 1]) {
      if (this.key === null) {
        const started = await checked(
          await fetch(url(this.baseUrl, "v1/jira/request-key"), {
            method: "POST",
            headers: { ...(await this.bearer()), "Content-Type": "application/json" },
            body: "{}",
          }),
        );
        const body = (await started.json()) as Schemas["RequestKeyResponse"];
        this.key = started.headers.get(NEXT_REQUEST_KEY_HEADER) ?? body.requestKey;
      }
      let response: Response;
      try {
        response = await fetch(url(this.baseUrl, path.replace(/^\//, ""), options.query), {
          method,
          headers: {
            ...(await this.bearer()),
            [REQUEST_KEY_HEADER]: this.key,
            ...(options.json === undefined ? {} : { "Content-Type": "application/json" }),
          },
          body: options.json === undefined ? undefined : JSON.stringify(options.json),
        });
      } catch (error) {
        this.key = null; // the key may be spent and its successor is lost: never present it again
        throw error;
      }
      const successor = response.headers.get(NEXT_REQUEST_KEY_HEADER);
      if (successor) {
        this.key = successor;
        return checked(response);
      }
      if (response.ok) return response;
      const error = await SeecodesError.of(response);
      if (CHAIN_LOST.has(error.code)) {
        this.key = null;
        if (attempt === 0) continue; // refused before it did anything: once more on a new chain
      }
      throw error;
    }
    throw new Error("unreachable");
  }

  async instance(): Promise<Schemas["InstanceResponse"]> {
    return (await this.call("GET", "/v1/instances/me")).json() as Promise<Schemas["InstanceResponse"]>;
  }

  async launchLink(body: Schemas["VscodeLinkRequest"]): Promise<Schemas["VscodeLinkResponse"]> {
    const answer = await this.call("POST", "/v1/security/vscode-link", { json: body });
    return answer.json() as Promise<Schemas["VscodeLinkResponse"]>;
  }

  async progress(projectId: string, taskId: string): Promise<Schemas["ProgressResponse"]> {
    const answer = await this.call("GET", `/v1/tasks/${encodeURIComponent(taskId)}/progress`, { query: { projectId } });
    return answer.json() as Promise<Schemas["ProgressResponse"]>;
  }

  async usage(): Promise<Schemas["UsageResponse"]> {
    return (await this.call("GET", "/v1/jira/usage")).json() as Promise<Schemas["UsageResponse"]>;
  }

  async budgets(): Promise<Schemas["BudgetsResponse"]> {
    return (await this.call("GET", "/v1/jira/budgets")).json() as Promise<Schemas["BudgetsResponse"]>;
  }

  /** Replaces the whole budget document: a field left out takes its default. */
  async setBudgets(document: Schemas["BudgetSettings"]): Promise<Schemas["BudgetsResponse"]> {
    const answer = await this.call("PUT", "/v1/jira/budgets", { json: document });
    return answer.json() as Promise<Schemas["BudgetsResponse"]>;
  }

  async approvals(options: { limit?: number; cursor?: string } = {}): Promise<Schemas["ApprovalListResponse"]> {
    const answer = await this.call("GET", "/v1/jira/approvals", { query: page(options) });
    return answer.json() as Promise<Schemas["ApprovalListResponse"]>;
  }

  async decide(runId: string, body: Schemas["ApprovalDecisionRequest"]): Promise<Schemas["ApprovalDecisionResponse"]> {
    const answer = await this.call("POST", `/v1/jira/approvals/${runId}`, { json: body });
    return answer.json() as Promise<Schemas["ApprovalDecisionResponse"]>;
  }

  async runs(
    options: { projectId?: string; taskId?: string; limit?: number; cursor?: string } = {},
  ): Promise<Schemas["RunListResponse"]> {
    const query: Record<string, string> = page(options);
    if (options.projectId !== undefined) query.projectId = options.projectId;
    if (options.taskId !== undefined) query.taskId = options.taskId;
    return (await this.call("GET", "/v1/jira/runs", { query })).json() as Promise<Schemas["RunListResponse"]>;
  }

  async cancel(runId: string): Promise<Schemas["CancelRunResponse"]> {
    return (await this.call("POST", `/v1/jira/runs/${runId}/cancel`)).json() as Promise<Schemas["CancelRunResponse"]>;
  }

  /** Registers a webhook endpoint; the answer's `secret` (whsec_…) is shown this once. */
  async createWebhook(body: Schemas["WebhookRegistration"]): Promise<Schemas["WebhookCreated"]> {
    return (await this.call("POST", "/v1/jira/webhooks", { json: body })).json() as Promise<Schemas["WebhookCreated"]>;
  }

  async webhooks(): Promise<Schemas["WebhookListResponse"]> {
    return (await this.call("GET", "/v1/jira/webhooks")).json() as Promise<Schemas["WebhookListResponse"]>;
  }

  async deleteWebhook(webhookId: string): Promise<Schemas["WebhookRemoved"]> {
    return (await this.call("DELETE", `/v1/jira/webhooks/${webhookId}`)).json() as Promise<Schemas["WebhookRemoved"]>;
  }

  async enableWebhook(webhookId: string): Promise<Schemas["WebhookResponse"]> {
    return (await this.call("POST", `/v1/jira/webhooks/${webhookId}/enable`)).json() as Promise<Schemas["WebhookResponse"]>;
  }

  async webhookDeliveries(
    webhookId: string,
    options: { limit?: number; cursor?: string } = {},
  ): Promise<Schemas["DeliveryListResponse"]> {
    const answer = await this.call("GET", `/v1/jira/webhooks/${webhookId}/deliveries`, { query: page(options) });
    return answer.json() as Promise<Schemas["DeliveryListResponse"]>;
  }
}

function page(options: { limit?: number; cursor?: string }): Record<string, string> {
  const query: Record<string, string> = {};
  if (options.limit !== undefined) query.limit = String(options.limit);
  if (options.cursor !== undefined) query.cursor = options.cursor;
  return query;
}

export interface Launch {
  code: string;
  projectId: string;
  taskId: string;
}

/** What a launch link carries: the HTTPS launcher URL or a `vscode://` / `cursor://` deep link. */
export function parseLaunch(link: string): Launch {
  const parsed = new URL(link);
  const p = parsed.searchParams;
  if (p.get("c") && p.get("p") && p.get("t")) return { code: p.get("c")!, projectId: p.get("p")!, taskId: p.get("t")! };
  const segments = parsed.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (p.get("code") && segments[0] === "project" && segments[2] === "task" && segments.length >= 4) {
    return { code: p.get("code")!, projectId: segments[1]!, taskId: segments[3]! };
  }
  throw new Error("not a seecodes launch link: expected …/v1/launch?p=&t=&c= or …/project/P/task/T?code=");
}

export interface RunEvent {
  id: number | null; // null for an event without one (`end`)
  kind: string;
  data: string;
}

/** The text of a `log` or `output` event. */
export function eventText(event: RunEvent): string {
  if (event.kind !== "log" && event.kind !== "output") return event.data;
  const value = JSON.parse(event.data) as { text?: unknown };
  return typeof value.text === "string" ? value.text : "";
}

/** An IDE session bound to one task permit. */
export class Ide {
  private constructor(
    readonly baseUrl: string,
    readonly permit: Schemas["PermitResponse"],
  ) {}

  static withPermit(baseUrl: string, permit: Schemas["PermitResponse"]): Ide {
    return new Ide(baseUrl, permit);
  }

  /** Exchange a launch link (or its parts) for the permit, once. */
  static async exchange(baseUrl: string, link: string | Launch): Promise<Ide> {
    const launch = typeof link === "string" ? parseLaunch(link) : link;
    let response: Response;
    try {
      response = await fetch(url(baseUrl, "v1/security/launch-exchange"), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ code: launch.code, projectId: launch.projectId, taskId: launch.taskId }),
      });
    } catch (error) {
      throw new ExchangeOutcomeUnknown(`the exchange got no answer (${String(error)}); open the task from Jira again`);
    }
    if (!response.ok) {
      const refused = await SeecodesError.of(response);
      if (refused.code === "launch_code_replayed") {
        throw new LaunchCodeRefused(
          refused.status,
          refused.code,
          `${refused.detail} (this code was exchanged before; that permit is now revoked)`,
          refused.extras,
        );
      }
      throw refused;
    }
    return new Ide(baseUrl, (await response.json()) as Schemas["PermitResponse"]);
  }

  private get auth(): Record<string, string> {
    return { Authorization: `Bearer ${this.permit.permit}` };
  }

  async call(method: string, path: string, options: CallOptions = {}): Promise<Response> {
    return checked(
      await fetch(url(this.baseUrl, path.replace(/^\//, ""), options.query), {
        method,
        headers: { ...this.auth, ...(options.json === undefined ? {} : { "Content-Type": "application/json" }) },
        body: options.json === undefined ? undefined : JSON.stringify(options.json),
      }),
    );
  }

  async context(): Promise<Schemas["TaskContextResponse"]> {
    return (await this.call("GET", "/v1/tasks/context")).json() as Promise<Schemas["TaskContextResponse"]>;
  }

  async saveProgress(document: Schemas["ProgressDocument"]): Promise<void> {
    await this.call("POST", `/v1/tasks/${encodeURIComponent(this.permit.taskId)}/progress`, { json: document });
  }

  /** Declare the files, upload each to its signed URL (as given), and answer the run id. */
  async createRun(files: Record<string, Uint8Array | string>, model?: string): Promise<string> {
    const answer = await this.call("POST", "/v1/tasks/init", { json: { files: Object.keys(files), ...(model ? { model } : {}) } });
    const created = (await answer.json()) as Schemas["InitRunResponse"];
    for (const [name, data] of Object.entries(files)) {
      await checked(await fetch(created.uploads[name]!, { method: "PUT", body: data as unknown as BodyInit }));
    }
    return created.runId;
  }

  async start(runId: string, options: { prompt?: string; model?: string } = {}): Promise<Schemas["StartRunResponse"]> {
    const body = { ...(options.prompt === undefined ? {} : { userPrompt: options.prompt }), ...(options.model ? { model: options.model } : {}) };
    return (await this.call("POST", `/v1/tasks/${runId}/start`, { json: body })).json() as Promise<Schemas["StartRunResponse"]>;
  }

  async status(runId: string): Promise<Schemas["RunStatusDocument"]> {
    const answer = (await (await this.call("GET", `/v1/tasks/${runId}`)).json()) as Schemas["RunStatusResponse"];
    return answer.status;
  }

  /** Poll until the run settles; `onStatus` hears every change. */
  async wait(
    runId: string,
    options: { onStatus?: (status: Schemas["RunStatusDocument"]) => void; pollMs?: number; timeoutMs?: number } = {},
  ): Promise<Schemas["RunStatusDocument"]> {
    const deadline = Date.now() + (options.timeoutMs ?? 600_000);
    let seen: string | null = null;
    for (;;) {
      const status = await this.status(runId);
      if (status.status !== seen) options.onStatus?.(status);
      seen = status.status;
      if (SETTLED.has(status.status)) return status;
      if (Date.now() > deadline) throw new Error(`run ${runId} is still ${status.status}`);
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
    }
  }

  /** Every event of the run until `end`, resuming after a cut with Last-Event-ID. */
  async *follow(runId: string, options: { lastEventId?: number; reconnects?: number; fetch?: typeof fetch } = {}): AsyncGenerator<RunEvent> {
    const get = options.fetch ?? fetch;
    let lastId = options.lastEventId ?? 0;
    let retryMs = 1000;
    let failures = 0;
    for (;;) {
      let kind = "message";
      let data: string[] = [];
      let id: number | null = null;
      try {
        const response = await checked(
          await get(url(this.baseUrl, `v1/tasks/${runId}/events`), {
            headers: { ...this.auth, Accept: "text/event-stream", ...(lastId ? { "Last-Event-ID": String(lastId) } : {}) },
          }),
        );
        const decoder = new TextDecoder();
        let buffer = "";
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let newline: number;
          while ((newline = buffer.indexOf("\n")) >= 0) {
            const line = buffer.slice(0, newline).replace(/\r$/, "");
            buffer = buffer.slice(newline + 1);
            if (line === "") {
              const dispatched = { kind, data: data.join("\n"), id };
              kind = "message";
              data = [];
              id = null;
              if (dispatched.id === null && dispatched.kind === "message" && !dispatched.data) continue;
              if (dispatched.id !== null) {
                if (dispatched.id <= lastId) continue; // delivered before the reconnect
                lastId = dispatched.id;
              }
              failures = 0;
              yield dispatched;
              if (dispatched.kind === "end") return;
            } else if (!line.startsWith(":")) {
              const colon = line.indexOf(":");
              const name = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              if (name === "event") kind = value;
              else if (name === "data") data.push(value);
              else if (name === "id" && /^\d+$/.test(value)) id = Number(value);
              else if (name === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
            }
          }
        }
      } catch (error) {
        if (error instanceof SeecodesError) throw error;
        failures += 1;
        if (failures > (options.reconnects ?? 20)) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs)); // the server's advice
    }
  }

  async output(runId: string): Promise<string> {
    return (await this.call("GET", `/v1/tasks/${runId}/output`)).text();
  }

  async logs(runId: string): Promise<string> {
    return (await this.call("GET", `/v1/tasks/${runId}/logs`)).text();
  }

  async cancel(runId: string): Promise<Schemas["CancelRunResponse"]> {
    return (await this.call("POST", `/v1/tasks/${runId}/cancel`)).json() as Promise<Schemas["CancelRunResponse"]>;
  }

  async rerun(runId: string): Promise<Schemas["StartRunResponse"]> {
    return (await this.call("POST", `/v1/tasks/${runId}/rerun`)).json() as Promise<Schemas["StartRunResponse"]>;
  }

  /** A new run on a succeeded one's inputs and output, with a new instruction. */
  async followUp(runId: string, body: Schemas["FollowUpRequest"]): Promise<Schemas["StartRunResponse"]> {
    const answer = await this.call("POST", `/v1/tasks/${runId}/continue`, { json: body });
    return answer.json() as Promise<Schemas["StartRunResponse"]>;
  }

  /** A read-only link to the run; its URL is shown only in this answer. */
  async share(runId: string): Promise<Schemas["ShareLinkResponse"]> {
    return (await this.call("POST", `/v1/tasks/${runId}/share`)).json() as Promise<Schemas["ShareLinkResponse"]>;
  }

  async revokeShares(runId: string): Promise<number> {
    const answer = (await (await this.call("DELETE", `/v1/tasks/${runId}/share`)).json()) as Schemas["RevokedShareLinks"];
    return answer.revoked;
  }
}
