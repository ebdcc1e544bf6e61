/**
 * @seecodes/client against a live server on loopback (tests/clients/test_typescript_client.py
 * starts it and passes SEECODES_URL and a file of FITs). The same protocol cases as the Python
 * library's: the flow, two calls racing on one chain, a launch code exchanged twice, a stream cut
 * mid-run and resumed.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { eventText, Ide, JiraApp, LaunchCodeRefused, parseLaunch, SeecodesError, type RunEvent } from "../src/index.js";

const URL_ = process.env.SEECODES_URL!;
const fits = JSON.parse(readFileSync(process.env.SEECODES_FITS!, "utf8")) as string[];
let next = 0;
const fit = (): string => fits[next++ % fits.length]!;

test("the Jira App to IDE to run flow", async () => {
  const jira = new JiraApp(URL_, fit);
  const link = await jira.launchLink({ projectId: "AUTH", taskId: "AUTH-140", jiraContext: { title: "TS flow" } });
  const ide = await Ide.exchange(URL_, link.httpsUrl);
  assert.equal((await ide.context()).context?.title, "TS flow");
  const runId = await ide.createRun({ "list.md": "- [ ] from TypeScript" });
  await ide.start(runId, { prompt: "go" });
  const heard: string[] = [];
  const settled = await ide.wait(runId, { onStatus: (s) => heard.push(s.status), pollMs: 100 });
  assert.equal(settled.status, "succeeded");
  assert.equal(heard.at(-1), "succeeded");
  assert.ok((await ide.output(runId)).length > 0);
  await ide.saveProgress({ progress: "40%", confidence: "High", ready: ["typed"] });
  assert.notEqual((await jira.progress("AUTH", "AUTH-140")).progress, null);
});

test("two calls racing on one chain are serialised and neither is refused", async () => {
  const jira = new JiraApp(URL_, fit);
  const answers = await Promise.all(Array.from({ length: 6 }, () => jira.instance()));
  assert.equal(answers.length, 6);
  for (const answer of answers) assert.equal(answer.status, "active");
});

test("a launch code exchanged twice is refused and says why", async () => {
  const jira = new JiraApp(URL_, fit);
  const link = await jira.launchLink({ projectId: "AUTH", taskId: "AUTH-141" });
  assert.deepEqual(parseLaunch(link.vscodeUrl), parseLaunch(link.httpsUrl));
  const first = await Ide.exchange(URL_, link.vscodeUrl);
  await assert.rejects(Ide.exchange(URL_, link.httpsUrl), (error: unknown) => {
    assert.ok(error instanceof LaunchCodeRefused);
    assert.equal(error.code, "launch_code_replayed");
    assert.match(error.detail, /permit is now revoked/);
    return true;
  });
  await assert.rejects(first.context(), (error: unknown) => error instanceof SeecodesError && error.status === 401);
});

test("an event stream cut mid-run resumes without a duplicate or a gap", async () => {
  const jira = new JiraApp(URL_, fit);
  const ide = await Ide.exchange(URL_, (await jira.launchLink({ projectId: "AUTH", taskId: "AUTH-142" })).httpsUrl);
  const runId = await ide.createRun({ "list.md": "- [ ] slowly" });
  await ide.start(runId, { prompt: "slowly" });
  let cut = false;
  // The first stream is cut after its padding and a few events, as a dropped connection would.
  const cutting: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (cut || !response.body) return response;
    cut = true;
    const reader = response.body.getReader();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        if (sent + value.length > 2048 + 600) {
          controller.enqueue(value.slice(0, Math.max(0, 2048 + 600 - sent)));
          await reader.cancel();
          return controller.error(new TypeError("connection cut"));
        }
        sent += value.length;
        controller.enqueue(value);
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
  const resumed: RunEvent[] = [];
  for await (const event of ide.follow(runId, { fetch: cutting })) resumed.push(event);
  assert.ok(cut);
  const whole: RunEvent[] = [];
  for await (const event of ide.follow(runId)) whole.push(event);
  assert.deepEqual(resumed.map((e) => e.id), whole.map((e) => e.id));
  const numbered = resumed.filter((e) => e.id !== null).map((e) => e.id);
  assert.equal(new Set(numbered).size, numbered.length);
  assert.equal(resumed.at(-1)?.kind, "end");
  assert.equal(resumed.filter((e) => e.kind === "output").map(eventText).join(""), "word ".repeat(40));
});

test("follow-ups, share links and the Jira App's view of runs", async () => {
  const jira = new JiraApp(URL_, fit);
  const ide = await Ide.exchange(URL_, (await jira.launchLink({ projectId: "AUTH", taskId: "AUTH-143" })).httpsUrl);
  const runId = await ide.createRun({ "list.md": "- [ ] first" });
  await ide.start(runId, { prompt: "go" });
  assert.equal((await ide.wait(runId, { pollMs: 100 })).status, "succeeded");
  const follow = await ide.followUp(runId, { userPrompt: "and then" });
  assert.equal((await ide.wait(follow.runId, { pollMs: 100 })).status, "succeeded");
  const link = await ide.share(follow.runId);
  const shared = (await (await fetch(link.url, { headers: { Accept: "application/json" } })).json()) as { runId: string };
  assert.equal(shared.runId, follow.runId);
  assert.equal(await ide.revokeShares(follow.runId), 1);
  assert.equal((await fetch(link.url)).status, 404);
  const listed = await jira.runs({ projectId: "AUTH", taskId: "AUTH-143" });
  assert.equal(listed.items.find((item) => item.runId === follow.runId)?.parentRunId, runId);
  assert.equal((await jira.budgets()).mode, "alert");
  assert.deepEqual((await jira.approvals()).items, []);
});
