//! `roster scim`: the SCIM core on local files, for checking what an identity provider or app sends.

use clap::{Args, Subcommand};
use roster_scim::{
    PatchRequest, Projection, ResourceSchema, SchemaRegistry, UnknownAttributes, ValidateOptions, filter,
};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ScimCommand {
    /// Parse a filter, check it against a resource type's schema and print its canonical form. With
    /// --resource, evaluate it: prints `true` or `false` and exits 0 on a match, 1 otherwise.
    Filter {
        /// The filter, for example 'userName eq "bjensen" and emails[type eq "work"]'.
        filter: String,
        #[command(flatten)]
        common: Common,
        /// A JSON resource file to evaluate the filter against (`-` for standard input).
        #[arg(long)]
        resource: Option<PathBuf>,
    },
    /// Apply a PATCH request (RFC 7644 PatchOp JSON) to a resource and print the result.
    Patch {
        /// The resource JSON file (`-` for standard input).
        #[arg(long)]
        resource: PathBuf,
        /// The PatchOp JSON file.
        #[arg(long)]
        patch: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Validate a resource as a POST body and print its canonical form.
    Validate {
        /// The resource JSON file (`-` for standard input).
        file: PathBuf,
        #[command(flatten)]
        common: Common,
        /// Return only these attributes (comma-separated), as the `attributes` query parameter does.
        #[arg(long)]
        attributes: Option<String>,
        /// Leave out these attributes (comma-separated).
        #[arg(long)]
        excluded_attributes: Option<String>,
    },
    /// Print the schemas (as served at /Schemas) including registered extensions.
    Schemas {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
pub struct Common {
    /// The resource type: User or Group.
    #[arg(long, short = 't', default_value = "User")]
    resource_type: String,
    /// An extension schema file (RFC 7643 §7 JSON) to register on the resource type. Repeatable.
    #[arg(long = "extension")]
    extensions: Vec<PathBuf>,
    /// Drop unknown attributes instead of rejecting them.
    #[arg(long)]
    ignore_unknown: bool,
}

impl Common {
    fn registry(&self) -> Result<SchemaRegistry, String> {
        let mut reg = SchemaRegistry::new();
        for path in &self.extensions {
            let schema = roster_scim::Schema::from_json(&read_json(path)?)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            reg.register_extension(&self.resource_type, schema, false)
                .map_err(|e| e.to_string())?;
        }
        Ok(reg)
    }

    fn options(&self) -> ValidateOptions {
        ValidateOptions {
            unknown: if self.ignore_unknown {
                UnknownAttributes::Ignore
            } else {
                UnknownAttributes::Reject
            },
            ..ValidateOptions::default()
        }
    }
}

fn resource_schema<'r>(reg: &'r SchemaRegistry, name: &str) -> Result<ResourceSchema<'r>, String> {
    reg.resource(name).ok_or_else(|| {
        let known: Vec<&str> = reg.resource_types().iter().map(|r| r.name.as_str()).collect();
        format!("unknown resource type '{name}'; use one of: {}", known.join(", "))
    })
}

fn read_json(path: &PathBuf) -> Result<Value, String> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("reading standard input: {e}"))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
    };
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

fn print_json(v: &Value) -> Result<(), String> {
    let s = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    out!("{s}");
    Ok(())
}

pub fn run(cmd: ScimCommand) -> Result<ExitCode, String> {
    match cmd {
        ScimCommand::Filter {
            filter: text,
            common,
            resource,
        } => {
            let reg = common.registry()?;
            let rs = resource_schema(&reg, &common.resource_type)?;
            let f = filter::parse(&text).map_err(|e| e.to_string())?;
            f.check(&rs).map_err(|e| e.to_string())?;
            match resource {
                None => {
                    out!("{f}");
                    Ok(ExitCode::SUCCESS)
                }
                Some(path) => {
                    let hit = filter::matches(&f, &read_json(&path)?, Some(&rs));
                    out!("{hit}");
                    Ok(if hit { ExitCode::SUCCESS } else { ExitCode::from(1) })
                }
            }
        }
        ScimCommand::Patch {
            resource,
            patch,
            common,
        } => {
            let reg = common.registry()?;
            let rs = resource_schema(&reg, &common.resource_type)?;
            let current = read_json(&resource)?;
            let req = PatchRequest::from_json(&read_json(&patch)?).map_err(|e| e.to_string())?;
            let out = rs
                .apply_patch_with(&current, &req, common.options())
                .map_err(|e| e.to_string())?;
            print_json(&out.resource)?;
            Ok(ExitCode::SUCCESS)
        }
        ScimCommand::Validate {
            file,
            common,
            attributes,
            excluded_attributes,
        } => {
            let reg = common.registry()?;
            let rs = resource_schema(&reg, &common.resource_type)?;
            let out = rs
                .validate(&read_json(&file)?, None, common.options())
                .map_err(|e| e.to_string())?;
            let projection = Projection::from_params(attributes.as_deref(), excluded_attributes.as_deref())
                .map_err(|e| e.to_string())?;
            print_json(&projection.apply(&rs, &Value::Object(out)))?;
            Ok(ExitCode::SUCCESS)
        }
        ScimCommand::Schemas { common } => {
            let reg = common.registry()?;
            let all: Vec<Value> = reg.schemas().iter().map(|s| s.to_resource("")).collect();
            print_json(&Value::Array(all))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
