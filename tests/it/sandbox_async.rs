//! Sandbox features that call back or persist: notifications, bulk jobs, the data folder.

use crate::common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use common::{leads, Sb};
use serde_json::{json, Value};

/// A loopback receiver that keeps every JSON body POSTed to it.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let g = got.clone();
    let app = Router::new().route(
        "/{*path}",
        post(move |body: axum::Json<Value>| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(body.0);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), got)
}

async fn wait_for(got: &Arc<Mutex<Vec<Value>>>, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        if got.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    got.lock().unwrap().clone()
}

#[tokio::test]
async fn notifications_reach_the_channel_with_its_token() {
    let sb = Sb::default().await;
    let (url, got) = receiver().await;
    let sub = json!({"watch": [{"channel_id": 1000000068001u64, "events": ["Leads.create", "Contacts.all"], "notify_url": format!("{url}/hooks/notifications?src=sandbox"),
                                "token": "TOKEN_FOR_VERIFICATION", "return_affected_field_values": true}]});
    let (s, b, _) = sb.call("POST", "/crm/v8/actions/watch", Some(sub)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["watch"][0]["code"], "SUCCESS");
    let (s, b, _) = sb.call("GET", "/crm/v8/actions/watch", None).await;
    // A numeric channel id comes back as a number, as Zoho sends it.
    assert_eq!(
        (s, b["watch"][0]["channel_id"].as_u64()),
        (200, Some(1_000_000_068_001))
    );

    let (_, ins, _) = sb.call("POST", "/crm/v8/Leads", Some(leads(3, "n"))).await;
    let ids: Vec<&str> = ins["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["details"]["id"].as_str().unwrap())
        .collect();
    // An edit of Leads is not subscribed: no callback for it.
    sb.call(
        "PUT",
        &format!("/crm/v8/Leads/{}", ids[0]),
        Some(json!({"data": [{"City": "Oslo"}]})),
    )
    .await;
    let calls = wait_for(&got, 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(got.lock().unwrap().len(), 1, "only the subscribed event");
    let n = &calls[0];
    assert_eq!(n["channel_id"], "1000000068001");
    assert_eq!(n["token"], "TOKEN_FOR_VERIFICATION");
    assert_eq!(n["operation"], "insert");
    assert_eq!(n["module"], "Leads");
    assert_eq!(n["query_params"]["src"], "sandbox");
    let got_ids: Vec<&str> = n["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(got_ids, ids);
    assert!(n["server_time"].is_i64());
    assert_eq!(n["affected_values"][0]["Last_Name"], "n0");

    // Disable, then nothing more arrives.
    let (s, _, _) = sb
        .call(
            "DELETE",
            "/crm/v8/actions/watch?channel_ids=1000000068001",
            None,
        )
        .await;
    assert_eq!(s, 200);
    sb.call("POST", "/crm/v8/Leads", Some(leads(1, "m"))).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(got.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn channels_expire() {
    let sb = Sb::default().await;
    let (url, got) = receiver().await;
    let sub = json!({"watch": [{"channel_id": "7", "events": ["Tasks.all"], "notify_url": format!("{url}/h"), "token": "t"}]});
    sb.call("POST", "/crm/v8/actions/watch", Some(sub)).await;
    // No expiry given: one hour.
    sb.advance(3601).await;
    let mut sb = sb;
    sb.token = sb.handle.state.mint_token();
    sb.call(
        "POST",
        "/crm/v8/Tasks",
        Some(json!({"data": [{"Subject": "late"}]})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(got.lock().unwrap().is_empty());
    let (s, _, _) = sb.call("GET", "/crm/v8/actions/watch", None).await;
    assert_eq!(s, 204);
    let long = json!({"watch": [{"channel_id": "8", "events": ["Tasks.all"], "notify_url": format!("{url}/h"), "token": "x".repeat(51)}]});
    let (s, b, _) = sb.call("POST", "/crm/v8/actions/watch", Some(long)).await;
    assert_eq!(
        (s, b["watch"][0]["details"]["api_name"].as_str()),
        (400, Some("token"))
    );
}

fn zip_of(csv: &str) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut out);
    z.start_file("leads.csv", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(csv.as_bytes()).unwrap();
    z.finish().unwrap();
    out.into_inner()
}

#[tokio::test]
async fn bulk_write_and_read_jobs() {
    let sb = Sb::default().await;
    let (url, got) = receiver().await;
    let mut csv = String::from("Last_Name,Email,No_of_Employees\n");
    for i in 0..250 {
        csv.push_str(&format!("Bulk{i},bulk{i}@x.example,{i}\n"));
    }
    csv.push_str(",missing@x.example,1\n");
    let part = reqwest::multipart::Part::bytes(zip_of(&csv))
        .file_name("leads.zip")
        .mime_str("application/zip")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let before = sb.used().await;
    let up: Value = sb
        .http
        .post(sb.url("/crm/v8/upload"))
        .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
        .header("feature", "bulk-write")
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(up["code"], "FILE_UPLOAD_SUCCESS", "{up}");
    let file_id = up["details"]["file_id"].as_str().unwrap();
    let job = json!({"operation": "insert", "callback": {"url": format!("{url}/hooks/bulk"), "method": "post"},
                     "resource": [{"type": "data", "module": {"api_name": "Leads"}, "file_id": file_id,
                                   "field_mappings": [{"api_name": "Last_Name", "index": 0}, {"api_name": "Email", "index": 1}, {"api_name": "No_of_Employees", "index": 2}]}]});
    let (s, b, _) = sb.call("POST", "/crm/bulk/v8/write", Some(job)).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        sb.used().await - before,
        501,
        "upload 1 + Bulk Write job 500"
    );
    let id = b["details"]["id"].as_str().unwrap().to_string();
    let cb = wait_for(&got, 1).await;
    assert_eq!(cb[0]["state"], "COMPLETED");
    let (s, st, _) = sb
        .call("GET", &format!("/crm/bulk/v8/write/{id}"), None)
        .await;
    assert_eq!(s, 200);
    let file = &st["resource"][0]["file"];
    assert_eq!(
        (
            file["added_count"].as_u64(),
            file["skipped_count"].as_u64(),
            file["total_count"].as_u64()
        ),
        (Some(250), Some(1), Some(251))
    );
    let zip = sb
        .http
        .get(sb.url(&format!("/crm/bulk/v8/write/{id}/result")))
        .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (header, rows) = creditops_sandbox::bulk::unzip_csv(&zip).unwrap();
    assert_eq!(header.last().map(String::as_str), Some("ERRORS"));
    assert_eq!(
        rows.last().unwrap().last().map(String::as_str),
        Some("MANDATORY_NOT_FOUND")
    );

    let before = sb.used().await;
    let read = json!({"callback": {"url": format!("{url}/hooks/bulk"), "method": "post"},
                      "query": {"module": {"api_name": "Leads"}, "fields": ["Last_Name", "Email"],
                                "criteria": {"field": {"api_name": "Email"}, "comparator": "ends_with", "value": "@x.example"}}});
    let (s, b, _) = sb.call("POST", "/crm/bulk/v8/read", Some(read)).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(sb.used().await - before, 50);
    assert_eq!(b["data"][0]["details"]["state"], "ADDED");
    let rid = b["data"][0]["details"]["id"].as_str().unwrap().to_string();
    let cb = wait_for(&got, 2).await;
    assert_eq!(cb[1]["data"][0]["state"], "COMPLETED");
    let (_, st, _) = sb
        .call("GET", &format!("/crm/bulk/v8/read/{rid}"), None)
        .await;
    assert_eq!(st["data"][0]["result"]["count"], 250);
    let zip = sb
        .http
        .get(sb.url(&format!("/crm/bulk/v8/read/{rid}/result")))
        .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
        .send()
        .await
        .unwrap();
    assert_eq!(zip.headers()["content-type"], "application/zip");
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip.bytes().await.unwrap().to_vec())).unwrap();
    let mut text = String::new();
    archive
        .by_index(0)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text.lines().count(), 251);
    assert!(text.starts_with("Id,Last_Name,Email"));
    // Ten downloads a minute, then 429.
    let mut codes = Vec::new();
    for _ in 0..10 {
        let r = sb
            .http
            .get(sb.url(&format!("/crm/bulk/v8/read/{rid}/result")))
            .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
            .send()
            .await
            .unwrap();
        codes.push(r.status().as_u16());
    }
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 1);
}

#[test]
fn the_data_folder_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_creditops");
    let start = || {
        let mut child = std::process::Command::new(exe)
            .args(["sandbox", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("CREDITOPS_CONFIG_DIR", dir.path().join("cfg"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .expect("first line names the address")
            .to_string();
        (child, base)
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mut child, base) = start();
    let http = reqwest::Client::new();
    let (token, id, used) = rt.block_on(async {
        let t: Value = http
            .post(format!("{base}/oauth/v2/token"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "r")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = t["access_token"].as_str().unwrap().to_string();
        let r: Value = http
            .post(format!("{base}/crm/v8/Leads"))
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .json(&leads(20, "k"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = r["data"][0]["details"]["id"].as_str().unwrap().to_string();
        http.delete(format!(
            "{base}/crm/v8/Leads?ids={}",
            r["data"][1]["details"]["id"].as_str().unwrap()
        ))
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .send()
        .await
        .unwrap();
        let u: Value = http
            .get(format!("{base}/__sandbox/usage"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (token, id, u["used"].as_u64().unwrap())
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (mut child, base) = start();
    rt.block_on(async {
        let auth = format!("Zoho-oauthtoken {token}");
        let r = http
            .get(format!("{base}/crm/v8/Leads/{id}"))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the token and the record survived");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["data"][0]["Last_Name"], "k0");
        let d: Value = http
            .get(format!("{base}/crm/v8/Leads/deleted"))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(d["data"].as_array().unwrap().len(), 1);
        let u: Value = http
            .get(format!("{base}/__sandbox/usage"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            u["used"].as_u64().unwrap(),
            used + 3,
            "the window survived (plus get 1 + deleted list 2)"
        );
        // New ids do not collide with old ones.
        let r: Value = http
            .post(format!("{base}/crm/v8/Leads"))
            .header("Authorization", &auth)
            .json(&leads(1, "after"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_ne!(r["data"][0]["details"]["id"].as_str().unwrap(), id);
    });
    child.kill().unwrap();
    child.wait().unwrap();
}
