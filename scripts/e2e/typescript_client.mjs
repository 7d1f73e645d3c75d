// The official TypeScript MCP SDK client against the reference server over Streamable HTTP:
// connects with a bearer token, lists the tools, calls get_firewall_rule and checks the answer,
// then makes 50 sequential calls on the SDK's kept-alive connection and fails if they show a
// delayed-ACK stall (a server without TCP_NODELAY makes each call at least 40 ms: 50 calls take
// over 2 s and the median call over 40 ms; the bounds are generous for a loaded machine).
//
// usage: node typescript_client.mjs SDK_DIR MCP_URL ALICE_TOKEN
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [sdkDir, url, token] = process.argv.slice(2);
if (!sdkDir || !url || !token) {
  console.error("usage: typescript_client.mjs SDK_DIR MCP_URL ALICE_TOKEN");
  process.exit(2);
}
const esm = join(sdkDir, "node_modules/@modelcontextprotocol/sdk/dist/esm");
const { Client } = await import(pathToFileURL(join(esm, "client/index.js")).href);
const { StreamableHTTPClientTransport } = await import(
  pathToFileURL(join(esm, "client/streamableHttp.js")).href
);

const CALLS = 50;
const TOTAL_BOUND_MS = 2000;
const MEDIAN_BOUND_MS = 20;

function fail(message) {
  console.error(`FAIL: typescript client: ${message}`);
  process.exit(1);
}

function expectAlphaRules(result, what) {
  if (result.isError) fail(`${what}: tool error ${JSON.stringify(result.content)}`);
  const rules = result.structuredContent?.rules?.map((r) => r.id);
  if (result.structuredContent?.app_name !== "app-alpha" ||
      JSON.stringify(rules) !== JSON.stringify(["alpha-1", "alpha-2", "alpha-3"])) {
    fail(`${what}: unexpected result ${JSON.stringify(result)}`);
  }
  const text = result.content?.find((c) => c.type === "text")?.text;
  if (!text || JSON.parse(text).app_name !== "app-alpha") {
    fail(`${what}: the text content does not carry the same result: ${text}`);
  }
}

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "mcp-patterns-e2e-typescript", version: "0.0.0" });
await client.connect(transport);
const server = client.getServerVersion();
if (server?.name !== "mcp-patterns-example") fail(`unexpected server info ${JSON.stringify(server)}`);

const { tools } = await client.listTools();
const names = tools.map((t) => t.name).sort();
// alice is a developer: the admin tools are hidden from her.
const expected = ["cache_status", "get_firewall_rule", "list_firewall_rules"];
if (JSON.stringify(names) !== JSON.stringify(expected)) {
  fail(`tools/list gave ${JSON.stringify(names)}, expected ${JSON.stringify(expected)}`);
}
const get = tools.find((t) => t.name === "get_firewall_rule");
if (!get.outputSchema) fail("get_firewall_rule has no output schema");

const args = { name: "get_firewall_rule", arguments: { app_name: "app-alpha" } };
expectAlphaRules(await client.callTool(args), "first call");

const denied = await client.callTool({ name: "get_firewall_rule", arguments: { app_name: "app-gamma" } });
if (!denied.isError || !/no entitlement/.test(denied.content?.[0]?.text ?? "")) {
  fail(`an application alice is not entitled to was not refused: ${JSON.stringify(denied)}`);
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
console.log(`typescript client: OK (negotiated ${transport.protocolVersion ?? "?"}; ${summary})`);
