// Zoho's official Node.js SDK (@zohocrm/nodejs-sdk-8.0), pointed at a creditops proxy through a
// custom environment, unchanged: token refresh, current user, org, fields (twice), create, get,
// update, upsert, search, COQL, record count, tags (one record, many), mass update and its
// status, related records, delete.
//
// Usage: node node_sdk_check.mjs BASE_URL WORK_DIR CLIENT_ID CLIENT_SECRET REFRESH_TOKEN
// (the SDK is resolved from NODE_PATH or the working directory's node_modules).
// Prints one line per step and "sdk: N passed, M failed" at the end; exits non-zero on failure.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const [base, work, clientId, clientSecret, refreshToken] = process.argv.slice(2);
mkdirSync(work, { recursive: true });
const require = createRequire(join(process.cwd(), "noop.js"));
const sdkPath = require.resolve("@zohocrm/nodejs-sdk-8.0");
const ZOHOCRMSDK = await import(sdkPath);

// The accounts URL is the token endpoint itself (what the SDK posts refresh requests to).
const environment = ZOHOCRMSDK.DataCenter.setEnvironment(base, `${base}/oauth/v2/token`, base);
const token = new ZOHOCRMSDK.OAuthBuilder()
    .clientId(clientId)
    .clientSecret(clientSecret)
    .refreshToken(refreshToken)
    .redirectURL("http://127.0.0.1/callback")
    .build();
const logger = new ZOHOCRMSDK.LogBuilder()
    .level(ZOHOCRMSDK.Levels.INFO)
    .filePath(join(work, "sdk.log"))
    .build();
const sdkConfig = new ZOHOCRMSDK.SDKConfigBuilder()
    .autoRefreshFields(false)
    .pickListValidation(false)
    .build();
await (await new ZOHOCRMSDK.InitializeBuilder())
    .environment(environment)
    .token(token)
    .store(new ZOHOCRMSDK.FileStore(join(work, "tokens.txt")))
    .SDKConfig(sdkConfig)
    // The SDK appends "resources" to this path as a string: it must end with a separator.
    .resourcePath(join(work, "/"))
    .logger(logger)
    .initialize();

let passed = 0;
let failed = 0;
const created = {};

// JSON for messages: the SDK's models hold BigInts, which JSON.stringify refuses.
function show(v) {
    return JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x));
}

function expect(cond, what) {
    if (!cond) throw new Error(what);
}

async function step(name, fn) {
    try {
        const detail = await fn();
        passed += 1;
        console.log(`ok   ${name}: ${detail}`);
    } catch (e) {
        failed += 1;
        console.log(`FAIL ${name}: ${e && e.stack ? e.stack : JSON.stringify(e)}`);
    }
}

function status(r) {
    return r.getStatusCode();
}

function actionIds(r, statuses) {
    expect(statuses.includes(status(r)), `status ${status(r)}`);
    return r.getObject().getData().map((a) => {
        expect(a instanceof ZOHOCRMSDK.Record.SuccessResponse, `not a success: ${JSON.stringify(a)}`);
        return String(a.getDetails().get("id"));
    });
}

function record(last, email) {
    const rec = new ZOHOCRMSDK.Record.Record();
    rec.addKeyValue("Last_Name", last);
    rec.addKeyValue("Email", email);
    rec.addKeyValue("Company", "SDK Co");
    return rec;
}

async function currentUser() {
    const p = new ZOHOCRMSDK.ParameterMap();
    await p.add(ZOHOCRMSDK.Users.GetUsersParam.TYPE, "CurrentUser");
    const r = await new ZOHOCRMSDK.Users.UsersOperations().getUsers(p);
    expect(status(r) === 200, `status ${status(r)}`);
    const users = r.getObject().getUsers();
    expect(users.length === 1 && users[0].getEmail(), "one user with an email");
    return users[0].getEmail();
}

async function org() {
    const r = await new ZOHOCRMSDK.Org.OrgOperations().getOrganization();
    expect(status(r) === 200, `status ${status(r)}`);
    return r.getObject().getOrg()[0].getCompanyName();
}

async function fields() {
    const p = new ZOHOCRMSDK.ParameterMap();
    await p.add(ZOHOCRMSDK.Fields.GetFieldsParam.MODULE, "Leads");
    const r = await new ZOHOCRMSDK.Fields.FieldsOperations().getFields(p);
    expect(status(r) === 200, `status ${status(r)}`);
    const names = r.getObject().getFields().map((f) => f.getAPIName());
    expect(names.includes("Last_Name") && names.includes("Email"), `fields ${names}`);
    return `${names.length} fields`;
}

async function create() {
    const body = new ZOHOCRMSDK.Record.BodyWrapper();
    body.setData([record("Node", "node@creditops.example"), record("Node2", "node2@creditops.example")]);
    const ids = actionIds(await new ZOHOCRMSDK.Record.RecordOperations("Leads").createRecords(body), [200, 201]);
    created.ids = ids;
    return ids.join(",");
}

async function get() {
    const r = await new ZOHOCRMSDK.Record.RecordOperations("Leads").getRecord(BigInt(created.ids[0]));
    expect(status(r) === 200, `status ${status(r)}`);
    const rec = r.getObject().getData()[0];
    expect(rec.getKeyValue("Last_Name") === "Node", "Last_Name");
    return rec.getKeyValue("Email");
}

async function update() {
    const rec = new ZOHOCRMSDK.Record.Record();
    rec.addKeyValue("City", "Porto");
    const body = new ZOHOCRMSDK.Record.BodyWrapper();
    body.setData([rec]);
    return actionIds(
        await new ZOHOCRMSDK.Record.RecordOperations("Leads").updateRecord(BigInt(created.ids[0]), body),
        [200],
    ).join(",");
}

async function upsert() {
    const body = new ZOHOCRMSDK.Record.BodyWrapper();
    body.setData([record("NodeUpserted", "node@creditops.example")]);
    body.setDuplicateCheckFields(["Email"]);
    const ids = actionIds(await new ZOHOCRMSDK.Record.RecordOperations("Leads").upsertRecords(body), [200]);
    expect(ids.length === 1 && ids[0] === created.ids[0], `upsert updated the existing record: ${ids}`);
    return ids.join(",");
}

async function search() {
    const p = new ZOHOCRMSDK.ParameterMap();
    await p.add(ZOHOCRMSDK.Record.SearchRecordsParam.EMAIL, "node@creditops.example");
    const r = await new ZOHOCRMSDK.Record.RecordOperations("Leads").searchRecords(p);
    expect(status(r) === 200, `status ${status(r)}`);
    const found = r.getObject().getData().map((x) => String(x.getId()));
    expect(found.includes(created.ids[0]), `found ${found}`);
    return found.join(",");
}

async function coql() {
    const body = new ZOHOCRMSDK.Coql.BodyWrapper();
    body.setSelectQuery(`select Last_Name, Email from Leads where id in (${created.ids.join(",")}) limit 10`);
    const r = await new ZOHOCRMSDK.Coql.CoqlOperations().getRecords(body);
    expect(status(r) === 200, `status ${status(r)}`);
    const rows = r.getObject().getData();
    expect(rows.length === 2, `${rows.length} rows`);
    return `${rows.length} rows`;
}

async function count() {
    const p = new ZOHOCRMSDK.ParameterMap();
    await p.add(ZOHOCRMSDK.Record.RecordCountParam.CRITERIA, "(Company:equals:SDK Co)");
    const r = await new ZOHOCRMSDK.Record.RecordOperations("Leads").recordCount(p);
    expect(status(r) === 200, `status ${status(r)}`);
    const o = r.getObject();
    expect(o instanceof ZOHOCRMSDK.Record.CountWrapper, `not a count: ${show(o)}`);
    expect(Number(o.getCount()) === 2, `count ${o.getCount()}`);
    return String(o.getCount());
}

function tag(name) {
    const t = new ZOHOCRMSDK.Tags.Tag();
    t.setName(name);
    return t;
}

async function tagOne() {
    const body = new ZOHOCRMSDK.Tags.NewTagRequestWrapper();
    body.setTags([tag("node-hot")]);
    const r = await new ZOHOCRMSDK.Tags.TagsOperations().addTags("Leads", BigInt(created.ids[0]), body);
    expect(status(r) === 200, `status ${status(r)}`);
    const o = r.getObject();
    expect(o instanceof ZOHOCRMSDK.Tags.RecordActionWrapper, `not a record action: ${show(o)}`);
    const a = o.getData()[0];
    expect(a instanceof ZOHOCRMSDK.Tags.RecordSuccessResponse, `not a success: ${show(a)}`);
    const names = a.getDetails().get("tags").map((t) => t.getName());
    expect(names.includes("node-hot"), `tags ${names}`);
    return names.join(",");
}

async function tagMany() {
    const body = new ZOHOCRMSDK.Tags.NewTagRequestWrapper();
    body.setTags([tag("node-batch")]);
    body.setIds(created.ids.map((i) => BigInt(i)));
    const r = await new ZOHOCRMSDK.Tags.TagsOperations().addTagsToMultipleRecords("Leads", body);
    expect(status(r) === 200, `status ${status(r)}`);
    const done = r.getObject().getData().filter((a) => a instanceof ZOHOCRMSDK.Tags.RecordSuccessResponse);
    expect(done.length === 2, `${done.length} records tagged`);
    return `${done.length} records tagged`;
}

async function massUpdate() {
    const rec = new ZOHOCRMSDK.Record.Record();
    rec.addKeyValue("City", "Madrid");
    const body = new ZOHOCRMSDK.Record.MassUpdateBodyWrapper();
    body.setData([rec]);
    body.setIds(created.ids.map(String));
    const ops = new ZOHOCRMSDK.Record.RecordOperations("Leads");
    const r = await ops.massUpdateRecords(body);
    expect(status(r) === 200, `status ${status(r)}`);
    const a = r.getObject().getData()[0];
    expect(a instanceof ZOHOCRMSDK.Record.MassUpdateSuccessResponse, `not a success: ${show(a)}`);
    const job = a.getDetails().get("job_id");
    const p = new ZOHOCRMSDK.ParameterMap();
    await p.add(ZOHOCRMSDK.Record.GetMassUpdateStatusParam.JOB_ID, String(job));
    const st = (await ops.getMassUpdateStatus(p)).getObject().getData()[0];
    expect(st instanceof ZOHOCRMSDK.Record.MassUpdate, `not a status: ${show(st)}`);
    expect(Number(st.getUpdatedCount()) === 2, `updated ${st.getUpdatedCount()}`);
    return `job ${job}: ${st.getUpdatedCount()} updated`;
}

async function related() {
    const p = new ZOHOCRMSDK.ParameterMap();
    await p.add(ZOHOCRMSDK.Record.GetRecordsParam.FIELDS, "Account_Name");
    await p.add(ZOHOCRMSDK.Record.GetRecordsParam.PER_PAGE, 1);
    const acc = (await new ZOHOCRMSDK.Record.RecordOperations("Accounts").getRecords(p)).getObject().getData()[0].getId();
    const r = await new ZOHOCRMSDK.RelatedRecords.RelatedRecordsOperations("Contacts", "Accounts").getRelatedRecords(BigInt(acc));
    expect(status(r) === 200, `status ${status(r)}`);
    const o = r.getObject();
    expect(o instanceof ZOHOCRMSDK.RelatedRecords.ResponseWrapper, `not related records: ${show(o)}`);
    return `${o.getData().length} contacts`;
}

async function del() {
    const p = new ZOHOCRMSDK.ParameterMap();
    await p.add(ZOHOCRMSDK.Record.DeleteRecordsParam.IDS, created.ids.join(","));
    const ids = actionIds(await new ZOHOCRMSDK.Record.RecordOperations("Leads").deleteRecords(p), [200]);
    expect([...ids].sort().join() === [...created.ids].sort().join(), "both deleted");
    return ids.join(",");
}

for (const [name, fn] of [
    ["current user", currentUser],
    ["org", org],
    ["fields", fields],
    ["fields again", fields],
    ["create", create],
    ["get", get],
    ["update", update],
    ["upsert", upsert],
    ["search", search],
    ["coql", coql],
    ["count", count],
    ["tag one", tagOne],
    ["tag many", tagMany],
    ["mass update", massUpdate],
    ["related", related],
    ["delete", del],
]) {
    await step(name, fn);
}
console.log(`sdk: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
