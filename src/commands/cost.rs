use serde_json::{json, Value};

use creditops_core::credits::{table::parse_query, Call};

use super::{input_error, print_json, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// HTTP method: GET, POST, PUT, PATCH or DELETE.
    method: String,
    /// Path (/crm/v8/Leads) or full URL; a ?query on it is read too.
    path: String,
    /// A query parameter, key=value; repeatable.
    #[arg(long = "query", short = 'q', value_name = "KEY=VALUE")]
    query: Vec<String>,
    /// The request body: a JSON file, or - for standard input.
    #[arg(long, value_name = "FILE|-")]
    body: Option<String>,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    let method = args.method.to_ascii_uppercase();
    if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].contains(&method.as_str()) {
        return Err(input_error(format!(
            "`{}` is not an HTTP method (GET, POST, PUT, PATCH, DELETE)",
            args.method
        )));
    }
    let mut query = Vec::new();
    for q in &args.query {
        match q.split_once('=') {
            Some((k, v)) if !k.is_empty() => query.push((k.to_string(), v.to_string())),
            _ => return Err(input_error(format!("--query `{q}`: expected KEY=VALUE"))),
        }
    }
    // Keep an inline ?query visible in the answer too.
    if let Some((_, q)) = args.path.split_once('?') {
        query.extend(parse_query(q));
    }
    let path = args
        .path
        .split_once('?')
        .map_or(args.path.as_str(), |(p, _)| p);
    let body = match &args.body {
        None => None,
        Some(src) => Some(read_body(src)?),
    };
    let call = Call {
        method: &method,
        path,
        query: &query,
        body: body.as_ref(),
    };
    match ctx.model.price(&call) {
        Ok(price) => {
            if args.json {
                let mut v = serde_json::to_value(&price)?;
                v["explanation"] = json!(price.explanation());
                return print_json(&v);
            }
            let flag = if price.priced {
                ""
            } else {
                "  (unpriced: no row matches)"
            };
            outln!(
                "{} credit{}{flag}",
                price.credits,
                if price.credits == 1 { "" } else { "s" }
            );
            outln!("rule      {}: {}", price.rule, price.explanation());
            if let Some(m) = &price.module {
                outln!("module    {m}");
            }
            outln!("records   {}", price.records);
            let mut slots = format!("{} concurrency slot", price.concurrency_slots);
            if price.concurrency_slots != 1 {
                slots.push('s');
            }
            if price.sub_concurrency {
                slots.push_str(" + 1 sub-concurrency slot");
            }
            outln!("holds     {slots}");
            if let Some(f) = price.failure_credits {
                outln!("on error  {f} credit(s)");
            }
            outln!("source    {}", price.source);
            Ok(())
        }
        Err(e) => {
            if args.json {
                print_json(&json!({"error": {"code": e.code(), "message": e.to_string()}}))?;
            }
            Err(input_error(format!("Zoho refuses this call: {e}")))
        }
    }
}

fn read_body(src: &str) -> anyhow::Result<Value> {
    let (name, text) = if src == "-" {
        let limit = creditops_core::input::data_limit().map_err(|e| input_error(e.to_string()))?;
        let s = creditops_core::input::read_text_from(
            std::io::stdin(),
            "standard input",
            limit,
            "set CREDITOPS_MAX_INPUT to raise it",
        )
        .map_err(|e| input_error(e.to_string()))?;
        ("standard input".to_string(), s)
    } else {
        let s = creditops_core::input::read_data(std::path::Path::new(src))
            .map_err(|e| input_error(e.to_string()))?;
        (src.to_string(), s)
    };
    serde_json::from_str(&text).map_err(|e| {
        input_error(format!(
            "{name}: line {}, column {}: the body is not JSON: {e}",
            e.line(),
            e.column()
        ))
    })
}
