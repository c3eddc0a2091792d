//! The command-line surface (clap). Names follow the Go original where users
//! know them: `-e/--environment` (alias `--env`), `stn runs inspect`, …

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use stn_replicate::Durability;

/// Station: a self-hosted platform for AI agents.
#[derive(Debug, Parser)]
#[command(name = "stn", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Config dir [default: $STATION_CONFIG_DIR, $XDG_CONFIG_HOME/station, ~/.config/station]
    #[arg(long, global = true, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Database: a path, file:PATH, libsql://HOST, https://HOST or http://HOST:PORT
    /// [default: $DATABASE_URL, database_url in config.yaml, <config dir>/station.db]
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log level or filter (e.g. debug, stn_db=trace) [default: $STN_LOG, warn; info for serve]
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the config dir, config.yaml, the database and the `default` environment.
    Init(InitArgs),
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Manage agents.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Manage environments.
    #[command(subcommand, name = "env")]
    Env(EnvCommand),
    /// Manage MCP server configs of an environment.
    #[command(subcommand)]
    Mcp(McpCommand),
    /// Load agents (.prompt) and MCP configs (*.json) from the config dir into the database.
    Sync(SyncArgs),
    /// Show agent run history.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Serve the agents of an environment as MCP tools over stdin/stdout (for Claude Desktop, Cursor, …).
    Stdio(StdioArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys for the HTTP API.
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Database status, migrations and copies.
    #[command(subcommand)]
    Db(DbCommand),
    /// Package an environment as a bundle, inspect one, install one.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Replicate a SQLite database to object storage continuously (like `litestream replicate`).
    Replicate(ReplicateArgs),
    /// Restore a database from a replica (like `litestream restore`).
    Restore(RestoreArgs),
    /// List the LTX files of a replica.
    Ltx(LtxArgs),
    /// Deploy an environment with its database kept: `stn deploy ENV --target T --database|--replica|--provision …`.
    Deploy(Box<DeployCommand>),
}

/// `stn deploy ENV …` deploys; `stn deploy status|logs|destroy` manage deployments.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DeployCommand {
    #[command(subcommand)]
    pub action: Option<DeployAction>,
    #[command(flatten)]
    pub deploy: DeployArgs,
}

#[derive(Debug, Subcommand)]
pub enum DeployAction {
    /// Show every deployment made from this config dir.
    Status {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Print a local deployment's server log.
    Logs {
        /// Deployment name [default: the only one]
        name: Option<String>,
        /// Keep printing new lines until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// Print the last N lines first.
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: usize,
    },
    /// Stop a deployment and delete its provisioned database and directory.
    Destroy {
        name: String,
        /// Keep the database (a provisioned one too) and the deployment directory.
        #[arg(long)]
        keep_data: bool,
    },
    /// Run and restart a local deployment's server (started by `stn deploy --target local`).
    #[command(hide = true)]
    Supervise { dir: PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeployTarget {
    Local,
    Compose,
    Systemd,
    #[value(alias = "k8s")]
    Kubernetes,
    Fly,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Environment to deploy.
    pub environment: Option<String>,
    /// Where to run it.
    #[arg(long, value_enum)]
    pub target: Option<DeployTarget>,
    /// Deployment name (also the app, service and namespace name) [default: station-ENV]
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub persistence: PersistenceArgs,
    /// Ed25519 private key (PKCS#8 PEM) that signs the tokens for `--provision sqld=…`.
    #[arg(long, value_name = "FILE")]
    pub jwt_key: Option<PathBuf>,
    /// The sqld HTTP URL clients use; the namespace is its first host label [default: the admin URL's host on port 8080]
    #[arg(long, value_name = "URL")]
    pub sqld_url: Option<String>,
    /// Turso organization for `--provision turso`.
    #[arg(long)]
    pub org: Option<String>,
    /// Turso group for `--provision turso`.
    #[arg(long, default_value = "default")]
    pub group: String,
    /// Lifetime of a provisioned Turso token (Turso's format: 7d, 2w, 7d3h).
    #[arg(long, default_value = "90d")]
    pub token_expiration: String,
    /// Fly region.
    #[arg(long, default_value = "ord")]
    pub region: String,
    /// Kubernetes namespace.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Container image for compose, kubernetes and fly.
    #[arg(long, default_value = "ghcr.io/cloudshipai/station-rs:latest")]
    pub image: String,
    /// Write the artifacts here [default: <config dir>/deployments/NAME/TARGET]
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Write the artifacts only: provision nothing, start nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// fly: run flyctl (apps create, secrets import, volumes create, deploy).
    #[arg(long)]
    pub apply: bool,
    /// Fly organization for `flyctl apps create`.
    #[arg(long, default_value = "personal")]
    pub fly_org: String,
    /// local: port on 127.0.0.1 [default: the previous deployment's, else a free one]
    #[arg(long)]
    pub port: Option<u16>,
    /// local: the `stn` executable to run; systemd: the path in ExecStart [default: this executable; /usr/local/bin/stn]
    #[arg(long, value_name = "PATH")]
    pub stn_binary: Option<PathBuf>,
}

/// Where the deployment's database lives: exactly one of these or the
/// global `--database URL` (a libSQL server such as Turso or sqld; its token
/// from ?authToken=, DATABASE_AUTH_TOKEN or TURSO_AUTH_TOKEN goes in as a secret).
#[derive(Debug, Args)]
#[group(id = "persistence", multiple = false)]
pub struct PersistenceArgs {
    /// A local file replicated to this replica (file://, s3://, gs://, abs://), restored on start.
    #[arg(long, value_name = "URL")]
    pub replica: Option<String>,
    /// Create a database for this deployment: `sqld=ADMIN_URL` or `turso`.
    #[arg(long, value_name = "SPEC")]
    pub provision: Option<String>,
    /// No persistence choice: the database lives and dies with the instance.
    #[arg(long)]
    pub ephemeral: bool,
}

/// Where replication settings come from.
#[derive(Debug, Args)]
pub struct ReplicationConfigArgs {
    /// Litestream v0.5 YAML config [default: $LITESTREAM_CONFIG, <config dir>/litestream.yml]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Do not expand $VAR and ${VAR} in the config file.
    #[arg(long)]
    pub no_expand_env: bool,
}

#[derive(Debug, Args)]
pub struct ReplicateArgs {
    /// Database to replicate (with REPLICA_URL; otherwise every database in the config).
    pub db_path: Option<PathBuf>,
    /// Replica URL: file:///PATH, s3://BUCKET/PATH?endpoint=…, gs://BUCKET/PATH, abs://[ACCOUNT@]CONTAINER/PATH
    #[arg(requires = "db_path")]
    pub replica_url: Option<String>,
    #[command(flatten)]
    pub config: ReplicationConfigArgs,
    /// Run this command (through `sh -c`) and replicate until it exits; its exit code becomes ours.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Sync and upload once, then exit.
    #[arg(long)]
    pub once: bool,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9090) [default: `addr` in the config]
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
    /// Allow a metrics address other than loopback (metrics have no authentication).
    #[arg(long)]
    pub metrics_allow_remote: bool,
    /// Take the replica's single-writer lease even if another process holds it (it stops uploading within a minute).
    #[arg(long)]
    pub takeover: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IntegrityCheckArg {
    None,
    Quick,
    Full,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Database path (its replica comes from the config) or a replica URL.
    pub target: String,
    /// Output file [default: the database path]
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub config: ReplicationConfigArgs,
    /// Restore the state as of this time (RFC 3339, e.g. 2026-11-27T10:00:00Z).
    #[arg(long, conflicts_with = "txid")]
    pub timestamp: Option<String>,
    /// Restore exactly this transaction ID (hex, as `stn ltx` shows).
    #[arg(long)]
    pub txid: Option<String>,
    /// Do nothing (and succeed) if the output already exists.
    #[arg(long)]
    pub if_db_not_exists: bool,
    /// Do nothing (and succeed) if the replica holds no backup.
    #[arg(long)]
    pub if_replica_exists: bool,
    /// Check the restored database before putting it in place.
    #[arg(long, value_enum, default_value_t = IntegrityCheckArg::Quick)]
    pub integrity_check: IntegrityCheckArg,
    /// Files downloaded at once.
    #[arg(long, default_value_t = 8)]
    pub parallelism: usize,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct LtxArgs {
    /// Database path (its replica comes from the config) or a replica URL.
    pub target: String,
    /// Only this level (0-9), or `all`.
    #[arg(long, default_value = "all")]
    pub level: String,
    #[command(flatten)]
    pub config: ReplicationConfigArgs,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Do not ask questions (accepted for compatibility: init never asks).
    #[arg(short, long)]
    pub yes: bool,
    /// Also write litestream.yml: replication to S3 configured from LITESTREAM_S3_* variables.
    #[arg(long)]
    pub replicate: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: api_addr in config.yaml, 127.0.0.1:8585]
    #[arg(long, env = "STN_ADDR", value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// Replicate the database to this replica while serving (restored from it first when the file is missing).
    #[arg(
        long,
        env = "STN_REPLICA_URL",
        value_name = "URL",
        conflicts_with = "replicate"
    )]
    pub replica: Option<String>,
    /// Replicate as the Litestream config says (see `stn init --replicate`).
    #[arg(long)]
    pub replicate: bool,
    /// Take the replica's single-writer lease even if another process holds it (it stops uploading within a minute).
    #[arg(long)]
    pub takeover: bool,
    /// When API writes are acknowledged: `async` (once committed locally) or `sync` (once every replica holds them) [default: durability in config.yaml or the Litestream config, async]
    #[arg(long, env = "STN_DURABILITY", value_name = "MODE", value_parser = parse_durability)]
    pub durability: Option<Durability>,
    /// Install this bundle (file or https:// URL) on the first start of this database; a restart does not reinstall it.
    #[arg(long, env = "STN_BUNDLE", value_name = "SRC")]
    pub bundle: Option<String>,
    /// The environment `--bundle` installs into.
    #[arg(
        long,
        env = "STN_BUNDLE_ENV",
        default_value = "default",
        value_name = "ENV"
    )]
    pub bundle_env: String,
    /// A bundle not installed in this database before replaces the environment's agents and MCP configs (its variables.yml is kept); deployments set it, so a redeploy serves the new bundle.
    #[arg(long, env = "STN_BUNDLE_REPLACE", requires = "bundle")]
    pub bundle_replace: bool,
    /// A host name requests may use in `Host` besides loopback names and the bind address (repeat, or comma-separate) [default: allowed_hosts in config.yaml]
    #[arg(
        long = "allowed-host",
        env = "STN_ALLOWED_HOSTS",
        value_name = "HOST",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// The IP address of a reverse proxy in front of this server (repeat, or comma-separate): only its `X-Forwarded-Proto: https` makes the web UI's cookies `Secure`.
    #[arg(
        long = "trusted-proxy",
        env = "STN_TRUSTED_PROXIES",
        value_name = "IP",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Connections served at once (at least 1); more wait until one ends.
    #[arg(long, env = "STN_MAX_CONNECTIONS", value_name = "N", default_value_t = stn_server::Limits::DEFAULT_MAX_CONNECTIONS, value_parser = at_least_one())]
    pub max_connections: usize,
    #[command(flatten)]
    pub replication_config: ReplicationConfigArgs,
    #[command(flatten)]
    pub runs: RunsConfig,
    /// The environment whose agents `/mcp` serves as tools.
    #[arg(
        long,
        env = "STN_MCP_ENVIRONMENT",
        default_value = "default",
        value_name = "ENV"
    )]
    pub mcp_environment: String,
}

/// How many runs execute at once.
#[derive(Debug, Args)]
pub struct RunsConfig {
    /// Runs executing at once (at least 1); the rest wait as `queued`.
    #[arg(long, env = "STN_MAX_CONCURRENT_RUNS", default_value_t = stn_agent::DEFAULT_MAX_CONCURRENT_RUNS, value_name = "N", value_parser = at_least_one())]
    pub max_concurrent_runs: usize,
}

#[derive(Debug, Args)]
pub struct StdioArgs {
    #[command(flatten)]
    pub env: EnvFlag,
    #[command(flatten)]
    pub runs: RunsConfig,
}

/// A count that must be positive: 0 would serve nothing, so it is a usage
/// error rather than silently read as 1.
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}

fn parse_durability(text: &str) -> Result<Durability, String> {
    text.parse()
}

/// `-e/--env/--environment ENV`.
#[derive(Debug, Args)]
pub struct EnvFlag {
    /// Environment
    #[arg(
        short = 'e',
        long = "environment",
        visible_alias = "env",
        default_value = "default",
        value_name = "ENV"
    )]
    pub environment: String,
}

/// `-e/--env/--environment ENV` where "all environments" is the default.
#[derive(Debug, Args)]
pub struct EnvFilter {
    /// Only this environment [default: all]
    #[arg(
        short = 'e',
        long = "environment",
        visible_alias = "env",
        value_name = "ENV"
    )]
    pub environment: Option<String>,
}

/// True when the command line asks for JSON: `--json` before any `--` (what
/// follows `--` is a command's own arguments, e.g. an MCP server's). Read from
/// the arguments rather than the parsed command so that every command's
/// failure can be reported as JSON without each one passing its flag along.
pub fn json_requested(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON (documented in docs/cli-json.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent and write its .prompt file.
    Create(AgentCreateArgs),
    /// List agents.
    List {
        #[command(flatten)]
        env: EnvFilter,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show one agent.
    Show {
        name: String,
        #[command(flatten)]
        env: EnvFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Change an agent (only the given fields) and rewrite its .prompt file.
    Update(AgentUpdateArgs),
    /// Run an agent on a task, printing each step as it happens; Ctrl-C cancels the run.
    /// Exit code: 0 completed, 1 failed, 3 cancelled, 4 timeout.
    Run(AgentRunArgs),
    /// Delete an agent, its runs and its .prompt file.
    Delete {
        name: String,
        #[command(flatten)]
        env: EnvFlag,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct AgentCreateArgs {
    pub name: String,
    /// The prompt (system instructions).
    #[arg(short, long)]
    pub prompt: String,
    /// What the agent does.
    #[arg(short, long)]
    pub description: String,
    #[command(flatten)]
    pub env: EnvFlag,
    /// Model id, e.g. gpt-4o-mini.
    #[arg(long)]
    pub model: Option<String>,
    /// Tool-loop limit.
    #[arg(long, default_value_t = stn_core::model::DEFAULT_MAX_STEPS)]
    pub max_steps: u32,
    /// MCP tool names, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub tools: Vec<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct AgentRunArgs {
    /// The agent's name.
    pub name: String,
    /// What the agent should do (`userInput` in its prompt).
    pub task: String,
    #[command(flatten)]
    pub env: EnvFlag,
    /// A prompt input variable, KEY=VALUE (repeatable); a VALUE that is JSON is used as JSON.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Stop the run after this many seconds (status `timeout`).
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub timeout: u64,
    /// Print the finished run with its steps as JSON instead of a live transcript.
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct AgentUpdateArgs {
    pub name: String,
    #[command(flatten)]
    pub env: EnvFlag,
    /// New prompt.
    #[arg(short, long)]
    pub prompt: Option<String>,
    /// New description.
    #[arg(short, long)]
    pub description: Option<String>,
    /// New model id.
    #[arg(long)]
    pub model: Option<String>,
    /// New tool-loop limit.
    #[arg(long)]
    pub max_steps: Option<u32>,
    /// New tool list, comma-separated (replaces the old one; "" clears it).
    #[arg(long, value_delimiter = ',')]
    pub tools: Option<Vec<String>>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Create an environment and its directory.
    Create {
        name: String,
        /// Free text.
        #[arg(short, long)]
        description: Option<String>,
    },
    /// List environments.
    List {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete an environment with its agents, runs, MCP configs and directory.
    Delete {
        name: String,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Write an MCP server config (environments/<env>/<name>.json).
    Add(McpAddArgs),
    /// List MCP servers loaded into the database (literal `env` values hidden).
    List {
        #[command(flatten)]
        env: EnvFilter,
        /// Show the literal `env` values of the configs (they are often secrets).
        #[arg(long)]
        show_values: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List the tools each MCP server offers, with descriptions (as recorded by `stn sync`).
    Tools {
        #[command(flatten)]
        env: EnvFilter,
        /// Only this server.
        #[arg(long)]
        server: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Remove an MCP config file and its servers.
    Remove {
        /// Config name (the file without .json).
        name: String,
        #[command(flatten)]
        env: EnvFlag,
    },
}

#[derive(Debug, Args)]
pub struct McpAddArgs {
    /// Config and server name.
    pub name: String,
    #[command(flatten)]
    pub env: EnvFlag,
    /// Command of a stdio server; {{.VAR}} placeholders come from variables.yml.
    #[arg(short, long, conflicts_with = "url", required_unless_present = "url")]
    pub command: Option<String>,
    /// Arguments, comma-separated (`-a -y,@pkg`); for arguments holding commas
    /// give them after `--` instead, each as it is: `-c npx -- -y @pkg DIR/a,b`.
    #[arg(short, long, value_delimiter = ',', allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// Arguments after `--`, taken as given (after those of `-a`).
    #[arg(last = true, value_name = "ARG")]
    pub trailing_args: Vec<String>,
    /// Environment variables for the command, KEY=VALUE (repeatable).
    #[arg(short = 'E', long = "env-var", value_name = "KEY=VALUE")]
    pub env_vars: Vec<String>,
    /// URL of an HTTP server.
    #[arg(short, long)]
    pub url: Option<String>,
    /// Description.
    #[arg(short, long)]
    pub description: Option<String>,
    /// Replace an existing config of that name.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Environment to sync [default: every directory under environments/]
    pub environment: Option<String>,
    /// Also delete agents whose .prompt file is gone.
    #[arg(long)]
    pub prune: bool,
    /// Do not start the MCP servers to record their tools (offline sync).
    #[arg(long)]
    pub no_discover: bool,
    /// Seconds one MCP server may take to start and list its tools
    /// [default: config.yaml's `mcp_start_timeout` or STN_MCP_START_TIMEOUT, else 60].
    #[arg(long, value_name = "SECS")]
    pub discover_timeout: Option<u64>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        #[command(flatten)]
        env: EnvFilter,
        /// Only this agent.
        #[arg(long)]
        agent: Option<String>,
        /// Only this status (queued, running, completed, failed, cancelled, timeout).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show one run with every step.
    #[command(visible_alias = "inspect")]
    Show {
        id: i64,
        /// Keep printing steps as they happen until the run ends.
        #[arg(short, long)]
        follow: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete runs with their steps and logs (not runs still queued or running).
    Delete {
        /// Run ids.
        #[arg(required = true, num_args = 1..)]
        ids: Vec<i64>,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Run a run's agent again with the same task and variables, in this process.
    Rerun {
        id: i64,
        /// Stop the run after this many seconds (status `timeout`).
        #[arg(long, value_name = "SECONDS", default_value_t = 900)]
        timeout: u64,
        /// Print the finished run with its steps as JSON instead of a live transcript.
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        name: String,
        /// May manage everything.
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    List {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete a user and its API keys (not `console`, not the last admin).
    Delete {
        name: String,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Create an API key for a user; the key is printed once.
    Create {
        user: String,
        /// Label for the key.
        #[arg(long, default_value = "default")]
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List API keys (never the keys themselves).
    List {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Revoke a key by the prefix `apikey create` showed.
    Revoke { prefix: String },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Show where the database is, its schema version and pending migrations.
    Status {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Apply pending migrations; a Go original's database is converted in place (a copy is saved beside it).
    Migrate {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Copy a whole Station database between two URLs and verify it.
    Copy {
        /// Source URL or path (only read).
        src: String,
        /// Destination URL or path (migrated first).
        dst: String,
        /// Replace a destination that already holds data.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write an environment's agents, MCP configs and files as a .tar.gz (never variables.yml).
    Create {
        /// The environment.
        env: String,
        /// Output file [default: <ENV>.tar.gz in the current directory]
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Show what a bundle holds without installing it.
    Inspect {
        /// The bundle file.
        file: PathBuf,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Install a bundle (a file or an https:// URL) as an environment and sync it.
    Install {
        /// A bundle file or https:// URL.
        src: String,
        /// The environment to create (or replace with --force).
        env: String,
        /// Replace an existing environment; its variables.yml is kept.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[cfg(test)]
mod tests {
    use super::json_requested;

    fn args(line: &str) -> Vec<std::ffi::OsString> {
        line.split_whitespace().map(Into::into).collect()
    }

    #[test]
    fn json_is_requested_before_a_double_dash_only() {
        assert!(json_requested(args("stn db migrate --json")));
        assert!(json_requested(args("stn --json runs list")));
        assert!(!json_requested(args("stn db migrate")));
        assert!(!json_requested(args(
            "stn mcp add srv -e default -- tool --json"
        )));
    }
}
