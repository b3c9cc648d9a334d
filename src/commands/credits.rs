use creditops_core::credits::{import_apis, merge_user_rows};

use super::{input_error, print_json, Context};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the cost table in force (built-in rows with the user's over them)
    Table {
        /// One JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Refresh the cost table from a saved GET /crm/v8/__apis answer: writes rows clamped to
    /// Zoho's min and max credits into costs.toml in the config folder
    ImportApis {
        /// The saved answer (JSON).
        file: String,
        /// Show what would change without writing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    match cmd {
        Command::Table { json } => {
            let rows: Vec<_> = ctx.model.table.rows().collect();
            if json {
                return print_json(&rows);
            }
            outln!("{:<24} {:<7} {:<48} CREDITS", "OPERATION", "METHOD", "PATH");
            for r in rows {
                let path = match &r.query_has {
                    Some(q) => format!("{}?{q}=…", r.path),
                    None => r.path.clone(),
                };
                outln!("{:<24} {:<7} {:<48} {}", r.name, r.method, path, r.rule);
            }
            Ok(())
        }
        Command::ImportApis { file, dry_run } => {
            let text = creditops_core::input::read_data(std::path::Path::new(&file))
                .map_err(|e| input_error(e.to_string()))?;
            let import = import_apis(&ctx.model.table, &text)
                .map_err(|e| input_error(format!("{file}: {e:#}")))?;
            for c in &import.changes {
                outln!("{c}");
            }
            let target = ctx.paths.user_costs();
            if dry_run {
                outln!(
                    "{} rows read; nothing written (--dry-run)",
                    import.rows.len()
                );
                return Ok(());
            }
            let existing = creditops_core::input::read_settings(&target).ok();
            let merged = merge_user_rows(existing.as_deref(), &import.rows)?;
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&target, merged)?;
            outln!(
                "{} rows from {file} written to {}",
                import.rows.len(),
                target.display()
            );
            Ok(())
        }
    }
}
