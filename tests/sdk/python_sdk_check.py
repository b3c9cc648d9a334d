"""Zoho's official Python SDK (zohocrmsdk8-0), pointed at a creditops proxy (or sandbox) through a
custom environment, unchanged: token refresh, current user, org, fields (twice), create, get,
update, upsert, search, COQL, delete.

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
    GetRecordsParam, DeleteRecordsParam, SearchRecordsParam, ActionWrapper, SuccessResponse, ResponseWrapper)
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


def delete():
    p = ParameterMap()
    p.add(DeleteRecordsParam.ids, ",".join(map(str, created["ids"])))
    ids = action_ids(RecordOperations("Leads").delete_records(p), (200,))
    expect(sorted(map(str, ids)) == sorted(map(str, created["ids"])), "both deleted")
    return ids


for name, fn in [("current user", current_user), ("org", org), ("fields", fields),
                 ("fields again", fields), ("create", create), ("get", get), ("update", update),
                 ("upsert", upsert), ("search", search), ("coql", coql), ("delete", delete)]:
    step(name, fn)

print(f"sdk: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
