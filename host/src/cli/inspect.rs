//! `jobhost plugin inspect`: what a component is, declares and imports, as
//! text or JSON.

use crate::model::HttpNeeds;
use crate::registry::Plugin;
use serde_json::{Value, json};

pub(super) fn plugin_json(plugin: &Plugin) -> Value {
    let mut doc = plugin.summary();
    doc["sha256"] = json!(plugin.compiled.digest());
    doc["size_bytes"] = json!(plugin.compiled.size());
    doc["imports"] = json!(plugin.compiled.imports());
    doc
}

pub(super) fn print_info(plugin: &Plugin) {
    let i = &plugin.info;
    println!("job type:      {} {}", i.job_type, i.version);
    println!("name:          {}", i.display_name);
    println!("description:   {}", i.description);
    println!("for users:     {}", i.user_facing_description);
    println!(
        "flags:         creatable_on_ui={} creatable_by_agent={} visible_on_ui={}",
        i.creatable_on_ui, i.creatable_by_agent, i.visible_on_ui
    );
    println!(
        "limits:        timeout {} ms, memory {} MiB{}",
        i.limits.timeout.as_millis(),
        i.limits.memory_bytes >> 20,
        i.limits
            .fuel
            .map(|f| format!(", fuel {f}"))
            .unwrap_or_default()
    );
    println!("if interrupted: {:?}", i.interrupted);
    println!("contract:      jobhost:plugin@{}", i.contract);
    let caps = &i.capabilities;
    match &caps.http {
        HttpNeeds::None => println!("http:          none"),
        HttpNeeds::OperatorChosen { reason } => {
            println!("http:          destinations chosen by the operator ({reason})");
        }
        HttpNeeds::Destinations { destinations } => {
            println!("http:");
            for d in destinations {
                println!("  {} ({})", d.url, d.reason);
            }
        }
    }
    if caps.secrets.is_empty() {
        println!("secrets:       none");
    } else {
        println!("secrets:");
        for s in &caps.secrets {
            println!("  {} ({})", s.name, s.description);
        }
    }
    let se = &i.side_effects;
    println!(
        "side effects:  read_only={} idempotent={} destructive={}",
        se.read_only, se.idempotent, se.destructive
    );
    match &i.retry {
        Some(r) => println!(
            "retry:         {} attempts, first after {} ms, then ×{} each time, at most {} ms apart",
            r.max_attempts, r.initial_delay_ms, r.multiplier, r.max_delay_ms
        ),
        None => println!("retry:         none"),
    }
    println!("imports:");
    for import in plugin.compiled.imports() {
        println!("  {import}");
    }
    println!(
        "component:     {} bytes, sha256 {}",
        plugin.compiled.size(),
        plugin.compiled.digest()
    );
    println!("config schema:");
    println!(
        "{}",
        serde_json::to_string_pretty(&i.json_schema).unwrap_or_default()
    );
}
