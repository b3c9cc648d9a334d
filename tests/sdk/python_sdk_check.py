"""Zoho's official Python SDK (zohocrmsdk8-0), pointed at a creditops proxy (or sandbox) through a
custom environment, unchanged: token refresh, current user, org, fields (twice), create, get,
update, upsert, search, COQL, record count, tags (one record, many records), mass update and
its status, related records, delete.

Usage: python3 python_sdk_check.py BASE_URL WORK_DIR [CLIENT_ID CLIENT_SECRET REFRESH_TOKEN]
Prints one line per step and "N passed, M failed" at the end; exits non-zero on any failure.
"""
import os
import sys
import traceback

base, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)

from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store import FileStore
from zohocrmsdk.src.com.zoho.api.logger import Logger
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
from zohocrmsdk.src.com.zoho.crm.api.parameter_map import ParameterMap
from zohocrmsdk.src.com.zoho.crm.api.record import (RecordOperations, BodyWrapper, Record, Field,
    GetRecordsParam, DeleteRecordsParam, SearchRecordsParam, ActionWrapper, SuccessResponse, ResponseWrapper,
    RecordCountParam, CountWrapper, MassUpdateBodyWrapper, MassUpdateActionWrapper, MassUpdateSuccessResponse,
    MassUpdateResponseWrapper, MassUpdate, GetMassUpdateStatusParam)
from zohocrmsdk.src.com.zoho.crm.api.tags import (TagsOperations, NewTagRequestWrapper, Tag, RecordActionWrapper,
    RecordSuccessResponse)
from zohocrmsdk.src.com.zoho.crm.api.related_records import (RelatedRecordsOperations,
    ResponseWrapper as RelatedWrapper)
from zohocrmsdk.src.com.zoho.crm.api.coql import CoqlOperations, BodyWrapper as CoqlBody
from zohocrmsdk.src.com.zoho.crm.api.org import OrgOperations
from zohocrmsdk.src.com.zoho.crm.api.users import UsersOperations, GetUsersParam
from zohocrmsdk.src.com.zoho.crm.api.fields import FieldsOperations, GetFieldsParam

environment = DataCenter.Environment(base, base + "/oauth/v2/token", base)
client_id, client_secret, refresh_token = (sys.argv[3:6] if len(sys.argv) >= 6
                                           else ("1000.SDKCLIENT", "sdk-secret", "1000.sdk-refresh"))
token = OAuthToken(client_id=client_id, client_secret=client_secret, refresh_token=refresh_token,
                   redirect_url="http://127.0.0.1/callback")
Initializer.initialize(environment=environment, token=token,
                       store=FileStore(file_path=os.path.join(work, "tokens.txt")),
                       sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=False),
                       resource_path=work,
                       logger=Logger.get_instance(level=Logger.Levels.INFO, file_path=os.path.join(work, "sdk.log")))

passed, failed = 0, 0


def step(name, fn):
    global passed, failed
    try:
        detail = fn()
        passed += 1
        print(f"ok   {name}: {detail}")
    except Exception:
        failed += 1
        print(f"FAIL {name}")
        traceback.print_exc(file=sys.stdout)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def current_user():
    p = ParameterMap()
    p.add(GetUsersParam.type, "CurrentUser")
    r = UsersOperations().get_users(p)
    expect(r.get_status_code() == 200, f"status {r.get_status_code()}")
    users = r.get_object().get_users()
    expect(len(users) == 1 and users[0].get_email(), "one user with an email")
    return users[0].get_email()


def org():
    r = OrgOperations().get_organization()
    expect(r.get_status_code() == 200, f"status {r.get_status_code()}")
    o = r.get_object().get_org()[0]
    return o.get_company_name()


def fields():
    p = ParameterMap()
    p.add(GetFieldsParam.module, "Leads")
    r = FieldsOperations().get_fields(p)
    expect(r.get_status_code() == 200, f"status {r.get_status_code()}")
    names = [f.get_api_name() for f in r.get_object().get_fields()]
    expect("Last_Name" in names and "Email" in names, f"fields {names}")
    return f"{len(names)} fields"


created = {}


def record(last, email):
    rec = Record()
    rec.add_key_value("Last_Name", last)
    rec.add_key_value("Email", email)
    rec.add_key_value("Company", "SDK Co")
    return rec


def action_ids(r, expect_status):
    expect(r.get_status_code() in expect_status, f"status {r.get_status_code()}")
    out = []
    for a in r.get_object().get_data():
        expect(isinstance(a, SuccessResponse), f"not a success: {a.__dict__}")
        out.append(a.get_details()["id"])
    return out


def create():
    body = BodyWrapper()
    body.set_data([record("Sdk", "sdk@creditops.example"), record("Sdk2", "sdk2@creditops.example")])
    ids = action_ids(RecordOperations("Leads").create_records(body), (200, 201))
    created["ids"] = ids
    return ids


def get():
    r = RecordOperations("Leads").get_record(int(created["ids"][0]))
    expect(r.get_status_code() == 200, f"status {r.get_status_code()}")
    rec = r.get_object().get_data()[0]
    expect(rec.get_key_value("Last_Name") == "Sdk", "Last_Name")
    p = ParameterMap()
    p.add(GetRecordsParam.fields, "Last_Name,Email")
    p.add(GetRecordsParam.ids, ",".join(map(str, created["ids"])))
    r = RecordOperations("Leads").get_records(p)
    expect(r.get_status_code() == 200 and len(r.get_object().get_data()) == 2, "two records by ids")
    return rec.get_key_value("Email")


def update():
    rec = Record()
    rec.add_key_value("City", "Lisbon")
    body = BodyWrapper()
    body.set_data([rec])
    ids = action_ids(RecordOperations("Leads").update_record(int(created["ids"][0]), body), (200,))
    return ids


def upsert():
    body = BodyWrapper()
    body.set_data([record("SdkUpserted", "sdk@creditops.example")])
    body.set_duplicate_check_fields(["Email"])
    ids = action_ids(RecordOperations("Leads").upsert_records(body), (200,))
    expect([str(i) for i in ids] == [str(created["ids"][0])], f"upsert updated the existing record: {ids}")
    return ids


def search():
    p = ParameterMap()
    p.add(SearchRecordsParam.email, "sdk@creditops.example")
    r = RecordOperations("Leads").search_records(p)
    expect(r.get_status_code() == 200, f"status {r.get_status_code()}")
    found = [str(x.get_id()) for x in r.get_object().get_data()]
    expect(str(created["ids"][0]) in found, f"found {found}")
    return found


def coql():
    body = CoqlBody()
    ids = ",".join(map(str, created["ids"]))
    body.set_select_query(f"select Last_Name, Email from Leads where id in ({ids}) limit 10")
    r = CoqlOperations().get_records(body)
    expect(r.get_status_code() == 200, f"status {r.get_status_code()}")
    rows = r.get_object().get_data()
    expect(len(rows) == 2, f"{len(rows)} rows")
    return f"{len(rows)} rows"


def count():
    p = ParameterMap()
    p.add(RecordCountParam.criteria, "(Company:equals:SDK Co)")
    r = RecordOperations("Leads").record_count(p)
    expect(r.get_status_code() == 200, f"status {r.get_status_code()}")
    o = r.get_object()
    expect(isinstance(o, CountWrapper), f"not a count: {o.__dict__}")
    expect(int(o.get_count()) == 2, f"count {o.get_count()}")
    return o.get_count()


def tag(name):
    t = Tag()
    t.set_name(name)
    return t


def tag_one():
    body = NewTagRequestWrapper()
    body.set_tags([tag("sdk-hot")])
    r = TagsOperations().add_tags("Leads", int(created["ids"][0]), body)
    expect(r.get_status_code() == 200, f"status {r.get_status_code()}")
    o = r.get_object()
    expect(isinstance(o, RecordActionWrapper), f"not a record action: {o.__dict__}")
    a = o.get_data()[0]
    expect(isinstance(a, RecordSuccessResponse), f"not a success: {a.__dict__}")
    tags = [t.get_name() for t in a.get_details()["tags"]]
    expect("sdk-hot" in tags, f"tags {tags}")
    return tags


def tag_many():
    body = NewTagRequestWrapper()
    body.set_tags([tag("sdk-batch")])
    body.set_ids([int(i) for i in created["ids"]])
    r = TagsOperations().add_tags_to_multiple_records("Leads", body)
    expect(r.get_status_code() == 200, f"status {r.get_status_code()}")
    done = [a for a in r.get_object().get_data() if isinstance(a, RecordSuccessResponse)]
    expect(len(done) == 2, f"{len(done)} records tagged")
    return f"{len(done)} records tagged"


def mass_update():
    rec = Record()
    rec.add_key_value("City", "Madrid")
    body = MassUpdateBodyWrapper()
    body.set_data([rec])
    body.set_ids([str(i) for i in created["ids"]])
    r = RecordOperations("Leads").mass_update_records(body)
    expect(r.get_status_code() == 200, f"status {r.get_status_code()}")
    a = r.get_object().get_data()[0]
    expect(isinstance(a, MassUpdateSuccessResponse), f"not a success: {a.__dict__}")
    job = a.get_details()["job_id"]
    p = ParameterMap()
    p.add(GetMassUpdateStatusParam.job_id, str(job))
    r = RecordOperations("Leads").get_mass_update_status(p)
    expect(r.get_status_code() == 200, f"status {r.get_status_code()}")
    st = r.get_object().get_data()[0]
    expect(isinstance(st, MassUpdate), f"not a status: {st.__dict__}")
    expect(st.get_updated_count() == 2, f"updated {st.get_updated_count()}")
    return f"job {job}: {st.get_updated_count()} updated"


def related():
    p = ParameterMap()
    p.add(GetRecordsParam.fields, "Account_Name")
    p.add(GetRecordsParam.per_page, 1)
    acc = RecordOperations("Accounts").get_records(p).get_object().get_data()[0].get_id()
    r = RelatedRecordsOperations("Contacts", "Accounts").get_related_records(int(acc))
    expect(r.get_status_code() == 200, f"status {r.get_status_code()}")
    o = r.get_object()
    expect(isinstance(o, RelatedWrapper), f"not related records: {o.__dict__}")
    return f"{len(o.get_data())} contacts"


def delete():
    p = ParameterMap()
    p.add(DeleteRecordsParam.ids, ",".join(map(str, created["ids"])))
    ids = action_ids(RecordOperations("Leads").delete_records(p), (200,))
    expect(sorted(map(str, ids)) == sorted(map(str, created["ids"])), "both deleted")
    return ids


for name, fn in [("current user", current_user), ("org", org), ("fields", fields),
                 ("fields again", fields), ("create", create), ("get", get), ("update", update),
                 ("upsert", upsert), ("search", search), ("coql", coql), ("count", count),
                 ("tag one", tag_one), ("tag many", tag_many), ("mass update", mass_update),
                 ("related", related), ("delete", delete)]:
    step(name, fn)

print(f"sdk: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
