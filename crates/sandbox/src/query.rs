//! Record filtering shared by COQL (`select … where …`) and Search (`criteria=(F:op:v)and(…)`).

use std::cmp::Ordering;

use serde_json::Value;

use super::org::Record;

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    NotLike,
    StartsWith,
    In,
    NotIn,
    IsNull,
    IsNotNull,
    Between,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cond {
        field: String,
        op: Op,
        values: Vec<Value>,
    },
}

impl Expr {
    pub fn matches(&self, r: &Record) -> bool {
        match self {
            Expr::And(a, b) => a.matches(r) && b.matches(r),
            Expr::Or(a, b) => a.matches(r) || b.matches(r),
            Expr::Cond { field, op, values } => cond(r, field, op, values),
        }
    }

    /// How many comparisons the expression holds (Search allows at most 10).
    pub fn count(&self) -> usize {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => a.count() + b.count(),
            Expr::Cond { .. } => 1,
        }
    }
}

/// The value of `field` in a record; `Lookup.id` and `Lookup.name` reach into lookups.
pub fn field_value<'a>(r: &'a Record, field: &str) -> Option<&'a Value> {
    match field.split_once('.') {
        Some((f, sub)) => r.get(f)?.get(sub),
        None => r.get(field),
    }
}

fn cond(r: &Record, field: &str, op: &Op, values: &[Value]) -> bool {
    let v = field_value(r, field).filter(|v| !v.is_null());
    match op {
        Op::IsNull => v.is_none(),
        Op::IsNotNull => v.is_some(),
        _ => {
            let Some(v) = v else {
                return matches!(op, Op::Ne | Op::NotIn | Op::NotLike);
            };
            let first = values.first().unwrap_or(&Value::Null);
            match op {
                Op::Eq => equal(v, first),
                Op::Ne => !equal(v, first),
                Op::Gt => compare(v, first) == Some(Ordering::Greater),
                Op::Ge => matches!(compare(v, first), Some(Ordering::Greater | Ordering::Equal)),
                Op::Lt => compare(v, first) == Some(Ordering::Less),
                Op::Le => matches!(compare(v, first), Some(Ordering::Less | Ordering::Equal)),
                Op::Like => like(v, first),
                Op::NotLike => !like(v, first),
                Op::StartsWith => text(v).is_some_and(|s| {
                    text(first).is_some_and(|p| s.to_lowercase().starts_with(&p.to_lowercase()))
                }),
                Op::In => values.iter().any(|x| equal(v, x)),
                Op::NotIn => !values.iter().any(|x| equal(v, x)),
                Op::Between => {
                    let hi = values.get(1).unwrap_or(&Value::Null);
                    matches!(compare(v, first), Some(Ordering::Greater | Ordering::Equal))
                        && matches!(compare(v, hi), Some(Ordering::Less | Ordering::Equal))
                }
                Op::IsNull | Op::IsNotNull => false,
            }
        }
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Equality as Zoho compares: case-insensitive text, numbers by value, lookups by id or name.
pub fn equal(v: &Value, want: &Value) -> bool {
    if let Value::Object(o) = v {
        return ["id", "name"]
            .iter()
            .filter_map(|k| o.get(*k))
            .any(|x| equal(x, want));
    }
    match (v.as_f64(), number_of(want)) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        _ => match (text(v), text(want)) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(&b),
            _ => v == want,
        },
    }
}

fn number_of(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
}

/// Orders two values: numerically when both are numbers (or numeric text), else as text.
pub fn compare(v: &Value, want: &Value) -> Option<Ordering> {
    let v = match v {
        Value::Object(o) => o.get("id").unwrap_or(v),
        _ => v,
    };
    match (number_of(v), number_of(want)) {
        (Some(a), Some(b)) => a.partial_cmp(&b),
        _ => Some(text(v)?.to_lowercase().cmp(&text(want)?.to_lowercase())),
    }
}

fn like(v: &Value, pattern: &Value) -> bool {
    let (Some(s), Some(p)) = (text(v), text(pattern)) else {
        return false;
    };
    let s = s.to_lowercase();
    let p = p.to_lowercase();
    let parts: Vec<&str> = p.split('%').collect();
    if parts.len() == 1 {
        return s == p;
    }
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            if !s.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if i == parts.len() - 1 {
            return s[pos..].ends_with(part);
        } else {
            match s[pos..].find(part) {
                Some(j) => pos += j + part.len(),
                None => return false,
            }
        }
    }
    true
}

/// A parsed COQL select.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub fields: Vec<String>,
    pub module: String,
    pub filter: Option<Expr>,
    pub order: Vec<(String, bool)>,
    pub limit: Option<usize>,
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(String),
    Sym(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let q = c;
            let mut j = i + 1;
            let mut buf = String::new();
            while j < chars.len() {
                if chars[j] == '\\' && j + 1 < chars.len() {
                    buf.push(chars[j + 1]);
                    j += 2;
                } else if chars[j] == q {
                    break;
                } else {
                    buf.push(chars[j]);
                    j += 1;
                }
            }
            if j >= chars.len() {
                return Err(format!("unterminated string at character {}", i + 1));
            }
            out.push(Tok::Str(buf));
            i = j + 1;
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            out.push(Tok::Num(chars[i..j].iter().collect()));
            i = j;
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let mut j = i + 1;
            while j < chars.len()
                && (chars[j].is_alphanumeric()
                    || chars[j] == '_'
                    || chars[j] == '.'
                    || chars[j] == '$')
            {
                j += 1;
            }
            out.push(Tok::Word(chars[i..j].iter().collect()));
            i = j;
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["!=", "<>", ">=", "<="].contains(&two.as_str()) {
                out.push(Tok::Sym(two));
                i += 2;
            } else if "=<>(),*".contains(c) {
                out.push(Tok::Sym(c.to_string()));
                i += 1;
            } else {
                return Err(format!("unexpected `{c}` at character {}", i + 1));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&mut self, k: &str) -> bool {
        match self.peek() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }
    fn sym(&mut self, s: &str) -> bool {
        match self.peek() {
            Some(Tok::Sym(x)) if x == s => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }
    fn word(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            other => Err(format!(
                "expected {what}, found {}",
                describe(other.as_ref())
            )),
        }
    }
    fn value(&mut self) -> Result<Value, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::String(s)),
            Some(Tok::Num(n)) => Ok(n
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| n.parse::<f64>().map(Value::from))
                .map_err(|_| format!("bad number `{n}`"))?),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Value::Null),
            other => Err(format!(
                "expected a value, found {}",
                describe(other.as_ref())
            )),
        }
    }
    fn expr(&mut self) -> Result<Expr, String> {
        let mut left = self.term()?;
        while self.keyword("or") {
            let right = self.term()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn term(&mut self) -> Result<Expr, String> {
        let mut left = self.factor()?;
        while self.keyword("and") {
            let right = self.factor()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn factor(&mut self) -> Result<Expr, String> {
        if self.sym("(") {
            let e = self.expr()?;
            if !self.sym(")") {
                return Err("expected `)`".into());
            }
            return Ok(e);
        }
        let field = self.word("a field name")?;
        let op = if self.sym("=") {
            Op::Eq
        } else if self.sym("!=") || self.sym("<>") {
            Op::Ne
        } else if self.sym(">=") {
            Op::Ge
        } else if self.sym("<=") {
            Op::Le
        } else if self.sym(">") {
            Op::Gt
        } else if self.sym("<") {
            Op::Lt
        } else if self.keyword("like") {
            Op::Like
        } else if self.keyword("in") {
            Op::In
        } else if self.keyword("between") {
            Op::Between
        } else if self.keyword("is") {
            let not = self.keyword("not");
            if !self.keyword("null") {
                return Err("expected `null` after `is`".into());
            }
            return Ok(Expr::Cond {
                field,
                op: if not { Op::IsNotNull } else { Op::IsNull },
                values: vec![],
            });
        } else if self.keyword("not") {
            if self.keyword("like") {
                Op::NotLike
            } else if self.keyword("in") {
                Op::NotIn
            } else {
                return Err("expected `like` or `in` after `not`".into());
            }
        } else {
            return Err(format!(
                "expected a comparison after `{field}`, found {}",
                describe(self.peek())
            ));
        };
        let values = match op {
            Op::In | Op::NotIn => {
                if !self.sym("(") {
                    return Err("expected `(` after `in`".into());
                }
                let mut vs = vec![self.value()?];
                while self.sym(",") {
                    vs.push(self.value()?);
                }
                if !self.sym(")") {
                    return Err("expected `)` to close `in`".into());
                }
                vs
            }
            Op::Between => {
                let lo = self.value()?;
                if !self.keyword("and") {
                    return Err("expected `and` in `between`".into());
                }
                vec![lo, self.value()?]
            }
            _ => vec![self.value()?],
        };
        Ok(Expr::Cond { field, op, values })
    }
}

fn describe(t: Option<&Tok>) -> String {
    match t {
        None => "the end of the query".into(),
        Some(Tok::Word(w)) | Some(Tok::Num(w)) | Some(Tok::Sym(w)) => format!("`{w}`"),
        Some(Tok::Str(s)) => format!("'{s}'"),
    }
}

/// Parses a COQL select query.
pub fn parse_select(q: &str) -> Result<Select, String> {
    let mut p = Parser {
        toks: tokenize(q)?,
        pos: 0,
    };
    if !p.keyword("select") {
        return Err("a COQL query starts with `select`".into());
    }
    let mut fields = vec![p.word("a field name")?];
    while p.sym(",") {
        fields.push(p.word("a field name")?);
    }
    if !p.keyword("from") {
        return Err(format!("expected `from`, found {}", describe(p.peek())));
    }
    let module = p.word("a module name")?;
    let filter = if p.keyword("where") {
        Some(p.expr()?)
    } else {
        None
    };
    let mut order = Vec::new();
    if p.keyword("order") {
        if !p.keyword("by") {
            return Err("expected `by` after `order`".into());
        }
        loop {
            let f = p.word("a field name")?;
            let asc = if p.keyword("desc") {
                false
            } else {
                p.keyword("asc");
                true
            };
            order.push((f, asc));
            if !p.sym(",") {
                break;
            }
        }
    }
    let mut limit = None;
    let mut offset = 0;
    if p.keyword("limit") {
        let first = number(p.next())?;
        if p.sym(",") {
            offset = first;
            limit = Some(number(p.next())?);
        } else {
            limit = Some(first);
            if p.keyword("offset") {
                offset = number(p.next())?;
            }
        }
    }
    if let Some(t) = p.peek() {
        return Err(format!("unexpected {} after the query", describe(Some(t))));
    }
    Ok(Select {
        fields,
        module,
        filter,
        order,
        limit,
        offset,
    })
}

fn number(t: Option<Tok>) -> Result<usize, String> {
    match t {
        Some(Tok::Num(n)) => n.parse().map_err(|_| format!("bad number `{n}`")),
        other => Err(format!(
            "expected a number, found {}",
            describe(other.as_ref())
        )),
    }
}

/// Parses Search's `criteria`: `((Last_Name:equals:Burns\,B)and(First_Name:starts_with:M))`.
pub fn parse_criteria(s: &str) -> Result<Expr, String> {
    let chars: Vec<char> = s.trim().chars().collect();
    let mut pos = 0;
    let e = criteria_expr(&chars, &mut pos)?;
    if pos != chars.len() {
        return Err(format!("unexpected text at character {}", pos + 1));
    }
    Ok(e)
}

fn criteria_expr(c: &[char], pos: &mut usize) -> Result<Expr, String> {
    let mut left = criteria_group(c, pos)?;
    loop {
        let rest: String = c[*pos..].iter().take(3).collect::<String>().to_lowercase();
        if rest.starts_with("and") {
            *pos += 3;
            let right = criteria_group(c, pos)?;
            left = Expr::And(Box::new(left), Box::new(right));
        } else if rest.starts_with("or") {
            *pos += 2;
            let right = criteria_group(c, pos)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        } else {
            return Ok(left);
        }
    }
}

fn criteria_group(c: &[char], pos: &mut usize) -> Result<Expr, String> {
    if c.get(*pos) != Some(&'(') {
        return Err(format!("expected `(` at character {}", *pos + 1));
    }
    *pos += 1;
    if c.get(*pos) == Some(&'(') {
        let e = criteria_expr(c, pos)?;
        if c.get(*pos) != Some(&')') {
            return Err(format!("expected `)` at character {}", *pos + 1));
        }
        *pos += 1;
        return Ok(e);
    }
    // field:operator:value up to the closing parenthesis (\) and \, escape).
    let mut buf = String::new();
    let mut parts = Vec::new();
    while let Some(&ch) = c.get(*pos) {
        match ch {
            '\\' => {
                if let Some(&n) = c.get(*pos + 1) {
                    buf.push('\u{1}');
                    buf.push(n);
                    *pos += 2;
                    continue;
                }
                *pos += 1;
            }
            ')' => break,
            ':' if parts.len() < 2 => {
                parts.push(std::mem::take(&mut buf));
                *pos += 1;
                continue;
            }
            _ => buf.push(ch),
        }
        *pos += 1;
    }
    if c.get(*pos) != Some(&')') {
        return Err("unclosed `(` in criteria".into());
    }
    *pos += 1;
    parts.push(buf);
    if parts.len() != 3 {
        return Err("a criterion is (field:operator:value)".into());
    }
    let field = parts[0].trim().to_string();
    let op = match parts[1].trim().to_lowercase().as_str() {
        "equals" => Op::Eq,
        "not_equal" => Op::Ne,
        "starts_with" => Op::StartsWith,
        "in" => Op::In,
        "not_in" => Op::NotIn,
        "greater_than" => Op::Gt,
        "greater_equal" => Op::Ge,
        "less_than" => Op::Lt,
        "less_equal" => Op::Le,
        "between" => Op::Between,
        other => return Err(format!("unknown operator `{other}`")),
    };
    // Split the value on unescaped commas (for in/between), then drop the escapes.
    let values: Vec<Value> = if matches!(op, Op::In | Op::NotIn | Op::Between) {
        split_unescaped(&parts[2])
            .into_iter()
            .map(Value::String)
            .collect()
    } else {
        vec![Value::String(parts[2].replace('\u{1}', ""))]
    };
    Ok(Expr::Cond { field, op, values })
}

fn split_unescaped(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut escaped = false;
    for ch in s.chars() {
        if ch == '\u{1}' {
            escaped = true;
            continue;
        }
        if ch == ',' && !escaped {
            out.push(String::new());
        } else if let Some(last) = out.last_mut() {
            last.push(ch);
        }
        escaped = false;
    }
    out
}

/// Sorts records by `(field, ascending)` keys.
pub fn sort_records(records: &mut [&Record], order: &[(String, bool)]) {
    records.sort_by(|a, b| {
        for (f, asc) in order {
            let x = field_value(a, f).unwrap_or(&Value::Null);
            let y = field_value(b, f).unwrap_or(&Value::Null);
            let o = compare(x, y).unwrap_or(Ordering::Equal);
            let o = if *asc { o } else { o.reverse() };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
}
