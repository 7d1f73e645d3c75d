// The official TypeScript MCP SDK v1 client (npm @modelcontextprotocol/sdk, MCP 2025-11-25:
// initialize, a session) against the reference server over Streamable HTTP:
//  - refused without a token (HTTP 401 with the bearer challenge, as the SDK's fetch receives it);
//  - alice (developer, app-alpha): tools/list without the admin tools, get_firewall_rule allowed
//    and refused, resources/list and resources/read of cache://firewalls/app-alpha only;
//  - ada (admin): the admin tools are listed;
//  - resources/subscribe in alice's session: cache://firewalls/app-beta refused, and
//    notifications/resources/updated for app-alpha when ada refreshes after its rules changed in
//    the demo downstream (and again when ada resets them);
//  - 50 sequential calls on the SDK's kept-alive connection that must show no delayed-ACK stall.
//    A server without TCP_NODELAY makes every call wait for the client's delayed ACK, at least
//    40 ms on Linux: 50 calls then take over 2 s and the median call over 40 ms. The bounds are
//    exactly those floors, so a stalled server cannot pass, while a debug build on a loaded
//    machine (seen: median 24 ms) keeps its margin.
//
// usage: node typescript_client.mjs SDK_DIR MCP_URL DOWNSTREAM_URL ADA_TOKEN ALICE_TOKEN
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [sdkDir, url, downstream, adaToken, token] = process.argv.slice(2);
if (!sdkDir || !url || !downstream || !adaToken || !token) {
  console.error("usage: typescript_client.mjs SDK_DIR MCP_URL DOWNSTREAM_URL ADA_TOKEN ALICE_TOKEN");
  process.exit(2);
}
const esm = join(sdkDir, "node_modules/@modelcontextprotocol/sdk/dist/esm");
const { Client } = await import(pathToFileURL(join(esm, "client/index.js")).href);
const { StreamableHTTPClientTransport } = await import(
  pathToFileURL(join(esm, "client/streamableHttp.js")).href
);
const { ResourceUpdatedNotificationSchema } = await import(pathToFileURL(join(esm, "types.js")).href);

const PROTOCOL = "2025-11-25";
const CALLS = 50;
const TOTAL_BOUND_MS = 2000;
const MEDIAN_BOUND_MS = 40;
const ALPHA = "cache://firewalls/app-alpha";
const BETA = "cache://firewalls/app-beta";
const DEFAULT_ALPHA_RULES = ["alpha-1", "alpha-2", "alpha-3"];
const CHANGED_RULE = {
  id: "alpha-e2e-ts",
  direction: "ingress",
  protocol: "tcp",
  ports: "8443",
  cidr: "10.0.0.0/8",
  action: "allow",
  description: "added by the TypeScript client suite",
};
const NOTIFICATION_TIMEOUT_MS = 10_000;

class Failure extends Error {}

function fail(message) {
  throw new Failure(message);
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function expectAlphaRules(result, what) {
  if (result.isError) fail(`${what}: tool error ${JSON.stringify(result.content)}`);
  const rules = result.structuredContent?.rules?.map((r) => r.id);
  if (result.structuredContent?.app_name !== "app-alpha" || !same(rules, DEFAULT_ALPHA_RULES)) {
    fail(`${what}: unexpected result ${JSON.stringify(result)}`);
  }
  const text = result.content?.find((c) => c.type === "text")?.text;
  if (!text || JSON.parse(text).app_name !== "app-alpha") {
    fail(`${what}: the text content does not carry the same result: ${text}`);
  }
}

// The HTTP responses the SDK's transport received (its `fetch`, wrapped).
function recordingFetch(seen) {
  return async (input, init) => {
    const response = await fetch(input, init);
    seen.push({ status: response.status, headers: response.headers });
    return response;
  };
}

async function connect(bearer, seen = []) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: bearer ? { headers: { Authorization: `Bearer ${bearer}` } } : undefined,
    fetch: recordingFetch(seen),
  });
  const client = new Client({ name: "mcp-patterns-e2e-typescript", version: "0.0.0" });
  await client.connect(transport);
  return { client, transport };
}

async function withoutToken() {
  const seen = [];
  let connected = false;
  let error;
  try {
    const { client } = await connect(undefined, seen);
    connected = true;
    await client.close();
  } catch (e) {
    error = e;
  }
  if (connected) fail("the client connected without a token");
  if (seen[0]?.status !== 401) {
    fail(`without a token the SDK received HTTP ${JSON.stringify(seen.map((r) => r.status))}, expected 401 (error: ${error})`);
  }
  const challenge = seen[0].headers.get("www-authenticate") ?? "";
  if (!challenge.startsWith("Bearer") || !challenge.includes("resource_metadata=")) {
    fail(`the 401 carried the challenge ${JSON.stringify(challenge)}`);
  }
  if (error?.code !== 401) fail(`the SDK reported ${error} (code ${error?.code}), expected code 401`);
}

async function asAdmin() {
  const { client } = await connect(adaToken);
  const names = (await client.listTools()).tools.map((t) => t.name).sort();
  const expected = ["cache_status", "get_firewall_rule", "list_firewall_rules", "refresh_cache", "reset_firewall"];
  if (!same(names, expected)) fail(`ada's tools/list gave ${JSON.stringify(names)}`);
  await client.close();
}

function ruleIds(read) {
  return JSON.parse(read.contents[0].text).rules.map((r) => r.id);
}

async function adminTool(admin, name, args) {
  const result = await admin.callTool({ name, arguments: args });
  if (result.isError) fail(`${name} as ada failed: ${JSON.stringify(result.content)}`);
}

async function changeAlpha() {
  const response = await fetch(`${downstream}/api/v1/apps/app-alpha/firewall-rules`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([CHANGED_RULE]),
  });
  if (response.status !== 200) fail(`the downstream refused the change: HTTP ${response.status}`);
}

// After a failed subscription check: app-alpha's seeded rules back in the downstream and the cache.
async function restoreAlpha() {
  await fetch(`${downstream}/api/v1/apps/app-alpha/firewall-rules/reset`, { method: "POST" });
  const { client } = await connect(adaToken);
  await client.callTool({ name: "refresh_cache", arguments: {} });
  await client.close();
}

async function subscription(client) {
  const updates = [];
  let wake = () => {};
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => {
    updates.push(notification.params.uri);
    wake();
  });
  const nextUpdate = (after) =>
    new Promise((resolve, reject) => {
      if (updates.length) return resolve(updates.shift());
      const timer = setTimeout(
        () => reject(new Failure(`no notifications/resources/updated within ${NOTIFICATION_TIMEOUT_MS} ms after ${after}`)),
        NOTIFICATION_TIMEOUT_MS,
      );
      wake = () => {
        clearTimeout(timer);
        wake = () => {};
        resolve(updates.shift());
      };
    });

  await client.subscribeResource({ uri: ALPHA });
  let refused;
  try {
    await client.subscribeResource({ uri: BETA });
  } catch (e) {
    refused = e;
  }
  if (!refused) fail(`alice could subscribe to ${BETA}`);
  if (!/not found/i.test(refused.message)) fail(`subscribing to ${BETA} failed with ${refused}`);

  const { client: admin } = await connect(adaToken);
  try {
    await changeAlpha();
    await adminTool(admin, "refresh_cache", {});
    let uri = await nextUpdate("a refresh that changed app-alpha");
    if (uri !== ALPHA) fail(`the update named ${uri}, expected ${ALPHA}`);
    let ids = ruleIds(await client.readResource({ uri: ALPHA }));
    if (!same(ids, [CHANGED_RULE.id])) fail(`after the update alice read ${JSON.stringify(ids)}`);

    await adminTool(admin, "reset_firewall", { app_name: "app-alpha" });
    uri = await nextUpdate("reset_firewall app-alpha");
    if (uri !== ALPHA) fail(`the update after the reset named ${uri}`);
    ids = ruleIds(await client.readResource({ uri: ALPHA }));
    if (!same(ids, DEFAULT_ALPHA_RULES)) fail(`after the reset alice read ${JSON.stringify(ids)}`);
    if (updates.length) fail(`unexpected further updates ${JSON.stringify(updates)}`);
  } finally {
    await admin.close();
  }
}

async function main() {
  await withoutToken();
  await asAdmin();

  const { client, transport } = await connect(token);
  const server = client.getServerVersion();
  if (server?.name !== "mcp-patterns-example") fail(`unexpected server info ${JSON.stringify(server)}`);
  if (transport.protocolVersion !== PROTOCOL) fail(`negotiated ${transport.protocolVersion}, expected ${PROTOCOL}`);
  if (!transport.sessionId) fail("the server gave the 2025-11-25 client no Mcp-Session-Id");

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  // alice is a developer: the admin tools are hidden from her.
  const expected = ["cache_status", "get_firewall_rule", "list_firewall_rules"];
  if (!same(names, expected)) {
    fail(`tools/list gave ${JSON.stringify(names)}, expected ${JSON.stringify(expected)}`);
  }
  const get = tools.find((t) => t.name === "get_firewall_rule");
  if (!get.outputSchema) fail("get_firewall_rule has no output schema");

  const args = { name: "get_firewall_rule", arguments: { app_name: "app-alpha" } };
  expectAlphaRules(await client.callTool(args), "first call");

  const listed = await client.callTool({ name: "list_firewall_rules", arguments: {} });
  const apps = listed.structuredContent?.apps?.map((a) => a.app_name);
  if (!same(apps, ["app-alpha"])) fail(`list_firewall_rules gave alice ${JSON.stringify(apps)}`);

  for (const app of ["app-beta", "app-gamma"]) {
    const denied = await client.callTool({ name: "get_firewall_rule", arguments: { app_name: app } });
    if (!denied.isError || !/no entitlement/.test(denied.content?.[0]?.text ?? "")) {
      fail(`${app}, which alice is not entitled to, was not refused: ${JSON.stringify(denied)}`);
    }
  }

  const uris = (await client.listResources()).resources.map((r) => r.uri);
  if (!uris.includes(ALPHA) || uris.includes(BETA)) fail(`alice's resources/list gave ${JSON.stringify(uris)}`);
  const read = await client.readResource({ uri: ALPHA });
  if (read.contents[0]?.mimeType !== "application/json" || !same(ruleIds(read), DEFAULT_ALPHA_RULES)) {
    fail(`reading ${ALPHA} gave ${JSON.stringify(read)}`);
  }
  let unreadable;
  try {
    await client.readResource({ uri: BETA });
  } catch (e) {
    unreadable = e;
  }
  if (!unreadable || !/not found/i.test(unreadable.message)) {
    fail(`reading ${BETA} as alice gave ${unreadable ?? "a result"}`);
  }

  try {
    await subscription(client);
  } catch (e) {
    await restoreAlpha().catch(() => {});
    throw e;
  }

  const latencies = [];
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    const result = await client.callTool(args);
    latencies.push(performance.now() - t0);
    expectAlphaRules(result, `sequential call ${i + 1}`);
  }
  const total = performance.now() - start;
  latencies.sort((a, b) => a - b);
  const median = latencies[Math.floor(latencies.length / 2)];
  const summary = `${CALLS} sequential calls in ${total.toFixed(1)} ms ` +
    `(median ${median.toFixed(2)} ms, max ${latencies[latencies.length - 1].toFixed(2)} ms)`;
  if (total >= TOTAL_BOUND_MS || median >= MEDIAN_BOUND_MS) {
    fail(`${summary}: a delayed-ACK stall (no TCP_NODELAY) makes every call at least 40 ms`);
  }
  await client.close();
  console.log(`typescript client (v1 SDK, ${transport.protocolVersion}): OK (401 without a token; ` +
    `admin and developer tools; alice's data and resources only; resources/subscribe notified ` +
    `after an admin refresh; ${summary})`);
}

try {
  await main();
  process.exit(0);
} catch (e) {
  console.error(`FAIL: typescript client (v1 SDK, ${PROTOCOL}): ${e instanceof Failure ? e.message : e?.stack ?? e}`);
  process.exit(1);
}
