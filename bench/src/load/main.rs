//! The load generator of `bench/run.sh`. One process, one scenario per run, one JSON line of
//! figures on stdout. Every loop is bounded in count and time; traffic goes to loopback only.
//!
//!   load seed-users --data-dir D --app-key org#app --prefix u --count N   (Confab stopped)
//!   load register-xmpp --addr 127.0.0.1:5222 --prefix u --count N
//!   load idle|pingpong|offline --target confab|xmpp|relay --addr HOST:PORT [...]
//!   load multidevice --target confab --addr HOST:PORT [...]   (Confab only)
//!   load seed-presence --data-dir D --app-key org#app --prefix s --count N --per-user K
//!   load presence --target confab --addr HOST:PORT [...]   (Confab only)
//!   load seed-groups --target confab --addr HOST:PORT --prefix g --sizes 10,200,3000
//!   load group|group-offline --target confab --addr HOST:PORT --group ID [...]   (Confab only)
//!   load room --target confab --addr HOST:PORT --members N [--rate R] [...]   (Confab only)
//!   load flush-floor --dir D   (no server: the disk's floor for a durable ack)

#![allow(clippy::print_stdout)] // a benchmark prints its figures

mod flush;
mod group;
mod http;
mod msync;
mod multidevice;
mod net;
mod presence;
mod relay;
mod room;
mod stats;
mod xmpp;

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;
use tokio::time::Instant;

use msync::{ConfabTarget, MsyncConn};
use relay::RelayConn;
use stats::{bounded, ProcessProbe, Recorder};
use xmpp::{XmppConn, XmppTarget};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes token-only users straight into a stopped Confab's data directory (registering
    /// 19,000 users over REST would spend minutes on Argon2 for passwords nobody uses).
    SeedUsers {
        #[arg(long)]
        data_dir: std::path::PathBuf,
        #[arg(long)]
        app_key: String,
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        count: usize,
    },
    /// Subscribes each of the seeded users `{prefix}0..count` to the `per_user` users after it
    /// (`i+1..=i+per_user`, modulo `count`) for a day, straight into a stopped Confab's store
    /// (a million subscriptions over REST would be 10,000 requests of 100 names each, for
    /// nothing the scenario measures).
    SeedPresence {
        #[arg(long)]
        data_dir: std::path::PathBuf,
        #[arg(long)]
        app_key: String,
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 100)]
        per_user: usize,
    },
    /// Creates a group of each size over REST (an app token) in a running Confab: the seeded
    /// users `{prefix}0..size`, owned by `{prefix}0`, `maxusers` the size. Prints one line
    /// `SIZE GROUP_ID` per group.
    SeedGroups {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, value_delimiter = ',', required = true)]
        sizes: Vec<usize>,
    },
    /// Every member of a group online (`{prefix}0..members`, as `seed-groups` made it), the
    /// owner sending to it at a fixed rate: copies/s, send-to-receipt latency per copy, server
    /// CPU per copy, copies that never came. Confab only.
    Group {
        #[command(flatten)]
        target: TargetArgs,
        /// The group's id (`seed-groups`).
        #[arg(long)]
        group: String,
        /// Its size, the owner counted.
        #[arg(long)]
        members: usize,
        #[arg(long, default_value_t = 100.0)]
        msgs_per_sec: f64,
        #[arg(long, default_value_t = 2)]
        warmup_secs: u64,
        #[arg(long, default_value_t = 8)]
        measure_secs: u64,
        /// After the measured window: how long to wait for the copies still owed.
        #[arg(long, default_value_t = 5)]
        drain_secs: u64,
        /// After the logins, at most this long for every member to pull what waited.
        #[arg(long, default_value_t = 60)]
        settle_secs: u64,
        /// For all the logins together.
        #[arg(long, default_value_t = 120)]
        login_timeout_secs: u64,
        #[arg(long)]
        server_pid: u32,
    },
    /// A group's members offline (after one login each), the owner sends M messages, then
    /// they all log in: time until every member has every message. Confab only.
    GroupOffline {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        group: String,
        #[arg(long)]
        members: usize,
        #[arg(long, default_value_t = 1000)]
        messages: u64,
        #[arg(long, default_value_t = 64)]
        in_flight: u64,
        /// For the first logins, and for the catch-up.
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
        #[arg(long)]
        server_pid: u32,
    },
    /// Every member of one chat room online (`{prefix}0..members`; the room made over REST by
    /// `{prefix}0` unless `--room` names one): all join at once (the join storm: how long
    /// until every join is answered), then one member in a hundred sends to the room, at
    /// `--rate` messages/s in all: copies/s, send-to-receipt latency per copy, server CPU per
    /// copy, the server's RSS, copies that never came. Confab only.
    Room {
        #[command(flatten)]
        target: TargetArgs,
        /// An existing room's id; by default the scenario creates one.
        #[arg(long)]
        room: Option<String>,
        /// The room's size, the owner counted: one session each.
        #[arg(long, default_value_t = 10_000)]
        members: usize,
        /// Messages per second to the room, all senders together; by default one per second
        /// per 100 members.
        #[arg(long)]
        rate: Option<f64>,
        /// Members that send (spread evenly, the owner first); by default one per 100.
        #[arg(long)]
        senders: Option<usize>,
        #[arg(long, default_value_t = 2)]
        warmup_secs: u64,
        #[arg(long, default_value_t = 8)]
        measure_secs: u64,
        /// After the measured window: how long to wait for the copies still owed.
        #[arg(long, default_value_t = 5)]
        drain_secs: u64,
        /// After the logins, at most this long for every member to pull what waited; after the
        /// join storm, at most this long for its events to stop coming.
        #[arg(long, default_value_t = 60)]
        settle_secs: u64,
        /// For all the logins together.
        #[arg(long, default_value_t = 120)]
        login_timeout_secs: u64,
        /// Joins unanswered at most during the join storm.
        #[arg(long, default_value_t = 100)]
        join_concurrency: usize,
        /// For the whole join storm.
        #[arg(long, default_value_t = 120)]
        join_timeout_secs: u64,
        #[arg(long)]
        server_pid: u32,
    },
    /// Registers `{prefix}0..count` on ejabberd by in-band registration.
    RegisterXmpp {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        count: usize,
    },
    /// C logged-in connections: logins per second, server RSS per connection.
    Idle {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        connections: usize,
        #[arg(long)]
        server_pid: u32,
    },
    /// P pairs, one message in flight per pair (it goes back and forth): delivered/s,
    /// one-way latency, server CPU.
    Pingpong {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, default_value_t = 100)]
        pairs: usize,
        #[arg(long, default_value_t = 2)]
        warmup_secs: u64,
        #[arg(long, default_value_t = 8)]
        measure_secs: u64,
        #[arg(long)]
        server_pid: u32,
    },
    /// U users with D devices each (D sessions, distinct resources), paired; each device of
    /// the even user serves one ball to the same device of its partner: msgs/s, copies/s
    /// (to the recipient's devices and the sender's other devices), latency per copy, copies
    /// that never came. Confab only.
    Multidevice {
        #[command(flatten)]
        target: TargetArgs,
        /// An even number: user 0 plays with user 1, 2 with 3, …
        #[arg(long, default_value_t = 100)]
        users: usize,
        /// Sessions per user.
        #[arg(long, default_value_t = 3)]
        devices: usize,
        #[arg(long, default_value_t = 2)]
        warmup_secs: u64,
        #[arg(long, default_value_t = 8)]
        measure_secs: u64,
        /// After the measured window: how long to wait for the copies still owed.
        #[arg(long, default_value_t = 3)]
        drain_secs: u64,
        /// For all the logins together.
        #[arg(long, default_value_t = 60)]
        login_timeout_secs: u64,
        #[arg(long)]
        server_pid: u32,
    },
    /// U users online (seeded with `seed-presence`: each subscribed to K others), publishing
    /// their presence over REST at a fixed rate: NOTIFY deliveries/s, publish-to-event
    /// latency, server CPU per delivery. Confab only.
    Presence {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// As seeded (`seed-presence --per-user`): what a publish is owed to; reported only.
        #[arg(long, default_value_t = 100)]
        subscriptions_per_user: usize,
        /// Publishes per second, spread over the users.
        #[arg(long, default_value_t = 1000)]
        publishes_per_sec: u32,
        /// Keep-alive REST connections the publishes share. Each publish answers after its
        /// durable write (group commit): at 16, a loaded server's answers, not its CPU, capped
        /// the rate.
        #[arg(long, default_value_t = 64)]
        http_connections: usize,
        #[arg(long, default_value_t = 2)]
        warmup_secs: u64,
        #[arg(long, default_value_t = 8)]
        measure_secs: u64,
        /// After the logins, at most this long for their notices to subscribers to stop.
        #[arg(long, default_value_t = 60)]
        settle_secs: u64,
        /// For all the logins together.
        #[arg(long, default_value_t = 120)]
        login_timeout_secs: u64,
        #[arg(long)]
        server_pid: u32,
    },
    /// N messages to an offline user with a window in flight: stored/s; then drained/s.
    Offline {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, default_value_t = 10_000)]
        messages: u64,
        #[arg(long, default_value_t = 64)]
        in_flight: u64,
    },
    /// No server: back-to-back appends, each flushed (`fdatasync`), in a file under `dir`;
    /// how long a message arriving at a random moment waits for a flush that covers it.
    FlushFloor {
        #[arg(long)]
        dir: std::path::PathBuf,
        /// Bytes per append, in KiB: about the metas of a group commit of ~60 messages, as a
        /// log of messages alone would write them.
        #[arg(long, default_value_t = 16)]
        write_kib: usize,
        #[arg(long, default_value_t = 8)]
        secs: u64,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Kind {
    Confab,
    Xmpp,
    Relay,
}

#[derive(Args, Clone)]
struct TargetArgs {
    #[arg(long, value_enum)]
    target: Kind,
    /// HOST:PORT of the server under test.
    #[arg(long)]
    addr: String,
    /// User names are `{prefix}{index}`.
    #[arg(long, default_value = "u")]
    prefix: String,
    #[arg(long, default_value_t = 100)]
    login_concurrency: usize,
    #[arg(long, env = "CONFAB_APP_KEY", default_value = "")]
    app_key: String,
    #[arg(long, env = "CONFAB_APP_ID", default_value = "")]
    app_id: String,
    #[arg(
        long,
        env = "CONFAB_APP_CERTIFICATE",
        default_value = "",
        hide_env_values = true
    )]
    app_certificate: String,
    #[arg(long, default_value = "localhost")]
    xmpp_domain: String,
    #[arg(long, default_value = "bench-password")]
    xmpp_password: String,
}

/// A logged-in connection to whichever server is under test.
enum Conn {
    Msync(MsyncConn),
    Xmpp(XmppConn),
    Relay(RelayConn),
}

impl TargetArgs {
    fn user(&self, index: usize) -> String {
        format!("{}{index}", self.prefix)
    }

    fn confab(&self) -> ConfabTarget {
        ConfabTarget {
            addr: self.addr.clone(),
            app_key: self.app_key.clone(),
            app_id: self.app_id.clone(),
            app_certificate: self.app_certificate.clone(),
        }
    }

    fn xmpp(&self) -> XmppTarget {
        XmppTarget {
            addr: self.addr.clone(),
            domain: self.xmpp_domain.clone(),
            password: self.xmpp_password.clone(),
        }
    }

    /// Tokens for users `0..count`, minted before any clock starts: issuing them is the app
    /// server's work, not the chat server's. Empty for the other targets.
    fn mint_tokens(&self, count: usize) -> anyhow::Result<Vec<String>> {
        if self.target != Kind::Confab {
            return Ok(Vec::new());
        }
        let confab = self.confab();
        (0..count)
            .map(|index| confab.user_token(&self.user(index)))
            .collect()
    }

    async fn login(&self, index: usize, tokens: &[String]) -> anyhow::Result<Conn> {
        Ok(match self.target {
            Kind::Confab => {
                let user = self.user(index);
                let token = match tokens.get(index) {
                    Some(token) => token.clone(),
                    None => self.confab().user_token(&user)?,
                };
                Conn::Msync(MsyncConn::login(&self.confab(), &user, &token, index).await?)
            }
            Kind::Xmpp => {
                Conn::Xmpp(XmppConn::login(&self.xmpp(), &self.user(index), index).await?)
            }
            Kind::Relay => Conn::Relay(RelayConn::login(&self.addr, relay_id(index)?).await?),
        })
    }

    fn name(&self) -> &'static str {
        match self.target {
            Kind::Confab => "confab",
            Kind::Xmpp => "ejabberd",
            Kind::Relay => "relay",
        }
    }
}

fn relay_id(index: usize) -> anyhow::Result<u32> {
    Ok(u32::try_from(index)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::SeedUsers {
            data_dir,
            app_key,
            prefix,
            count,
        } => seed_users(&data_dir, &app_key, &prefix, count).await,
        Command::SeedPresence {
            data_dir,
            app_key,
            prefix,
            count,
            per_user,
        } => seed_presence(&data_dir, &app_key, &prefix, count, per_user).await,
        Command::RegisterXmpp { target, count } => {
            let xmpp = target.xmpp();
            let (_, elapsed) = bounded(count, target.login_concurrency, |index| {
                let (xmpp, user) = (xmpp.clone(), target.user(index));
                async move { XmppConn::register(&xmpp, &user, index).await }
            })
            .await?;
            eprintln!("registered {count} XMPP users in {elapsed:?}");
            Ok(())
        }
        Command::Idle {
            target,
            connections,
            server_pid,
        } => idle(&target, connections, ProcessProbe::new(server_pid)).await,
        Command::Pingpong {
            target,
            pairs,
            warmup_secs,
            measure_secs,
            server_pid,
        } => {
            let windows = (
                Duration::from_secs(warmup_secs),
                Duration::from_secs(measure_secs),
            );
            pingpong(&target, pairs, windows, ProcessProbe::new(server_pid)).await
        }
        Command::Multidevice {
            target,
            users,
            devices,
            warmup_secs,
            measure_secs,
            drain_secs,
            login_timeout_secs,
            server_pid,
        } => {
            if target.target != Kind::Confab {
                bail!("multidevice: Confab only (multi-device sync is msync's)");
            }
            let plan = multidevice::Plan {
                users: (0..users).map(|index| target.user(index)).collect(),
                tokens: target.mint_tokens(users)?,
                devices,
                warmup: Duration::from_secs(warmup_secs),
                measure: Duration::from_secs(measure_secs),
                drain: Duration::from_secs(drain_secs),
                login_concurrency: target.login_concurrency,
                login_timeout: Duration::from_secs(login_timeout_secs),
            };
            let figures =
                multidevice::run(&target.confab(), &plan, ProcessProbe::new(server_pid)).await?;
            println!("{figures}");
            Ok(())
        }
        Command::Presence {
            target,
            users,
            subscriptions_per_user,
            publishes_per_sec,
            http_connections,
            warmup_secs,
            measure_secs,
            settle_secs,
            login_timeout_secs,
            server_pid,
        } => {
            if target.target != Kind::Confab {
                bail!("presence: Confab only (the scenario is the Agora Chat presence API)");
            }
            let plan = presence::Plan {
                users: (0..users).map(|index| target.user(index)).collect(),
                tokens: target.mint_tokens(users)?,
                subscriptions_per_user,
                publishes_per_sec,
                http_connections,
                warmup: Duration::from_secs(warmup_secs),
                measure: Duration::from_secs(measure_secs),
                settle: Duration::from_secs(settle_secs),
                login_concurrency: target.login_concurrency,
                login_timeout: Duration::from_secs(login_timeout_secs),
            };
            let figures =
                presence::run(&target.confab(), plan, ProcessProbe::new(server_pid)).await?;
            println!("{figures}");
            Ok(())
        }
        Command::SeedGroups { target, sizes } => {
            if target.target != Kind::Confab {
                bail!("seed-groups: Confab only");
            }
            for (size, id, elapsed) in group::seed(&target.confab(), &target.prefix, &sizes).await?
            {
                eprintln!(
                    "created a group of {size} ({}0..) in {elapsed:?}",
                    target.prefix
                );
                println!("{size} {id}");
            }
            Ok(())
        }
        Command::Group {
            target,
            group,
            members,
            msgs_per_sec,
            warmup_secs,
            measure_secs,
            drain_secs,
            settle_secs,
            login_timeout_secs,
            server_pid,
        } => {
            if target.target != Kind::Confab {
                bail!("group: Confab only (ejabberd would need MUC: see bench/README.md)");
            }
            let plan = group::OnlinePlan {
                group,
                users: (0..members).map(|index| target.user(index)).collect(),
                tokens: target.mint_tokens(members)?,
                msgs_per_sec,
                warmup: Duration::from_secs(warmup_secs),
                measure: Duration::from_secs(measure_secs),
                drain: Duration::from_secs(drain_secs),
                settle: Duration::from_secs(settle_secs),
                login_concurrency: target.login_concurrency,
                login_timeout: Duration::from_secs(login_timeout_secs),
            };
            let figures =
                group::run_online(&target.confab(), plan, ProcessProbe::new(server_pid)).await?;
            println!("{figures}");
            Ok(())
        }
        Command::GroupOffline {
            target,
            group,
            members,
            messages,
            in_flight,
            timeout_secs,
            server_pid,
        } => {
            if target.target != Kind::Confab {
                bail!("group-offline: Confab only (ejabberd would need MUC: see bench/README.md)");
            }
            let plan = group::OfflinePlan {
                group,
                users: (0..members).map(|index| target.user(index)).collect(),
                tokens: target.mint_tokens(members)?,
                messages,
                in_flight,
                login_concurrency: target.login_concurrency,
                timeout: Duration::from_secs(timeout_secs),
            };
            let figures =
                group::run_offline(&target.confab(), plan, ProcessProbe::new(server_pid)).await?;
            println!("{figures}");
            Ok(())
        }
        Command::Room {
            target,
            room,
            members,
            rate,
            senders,
            warmup_secs,
            measure_secs,
            drain_secs,
            settle_secs,
            login_timeout_secs,
            join_concurrency,
            join_timeout_secs,
            server_pid,
        } => {
            if target.target != Kind::Confab {
                bail!("room: Confab only (ejabberd would need MUC: see bench/README.md)");
            }
            let per_hundred = members.div_ceil(100).max(1);
            let plan = room::Plan {
                room,
                users: (0..members).map(|index| target.user(index)).collect(),
                tokens: target.mint_tokens(members)?,
                msgs_per_sec: rate.unwrap_or(members as f64 / 100.0),
                senders: senders.unwrap_or(per_hundred),
                warmup: Duration::from_secs(warmup_secs),
                measure: Duration::from_secs(measure_secs),
                drain: Duration::from_secs(drain_secs),
                settle: Duration::from_secs(settle_secs),
                login_concurrency: target.login_concurrency,
                login_timeout: Duration::from_secs(login_timeout_secs),
                join_concurrency,
                join_timeout: Duration::from_secs(join_timeout_secs),
            };
            let figures = room::run(&target.confab(), plan, ProcessProbe::new(server_pid)).await?;
            println!("{figures}");
            Ok(())
        }
        Command::Offline {
            target,
            messages,
            in_flight,
        } => offline(&target, messages, in_flight).await,
        Command::FlushFloor {
            dir,
            write_kib,
            secs,
        } => {
            let run_for = Duration::from_secs(secs);
            let figures =
                tokio::task::spawn_blocking(move || flush::floor(&dir, write_kib, run_for))
                    .await??;
            println!("{figures}");
            Ok(())
        }
    }
}

async fn seed_users(
    data_dir: &std::path::Path,
    app_key: &str,
    prefix: &str,
    count: usize,
) -> anyhow::Result<()> {
    use confab_core::store::UserStore;
    let app = confab_core::ids::AppKey::parse(app_key).context("--app-key must be org#app")?;
    let store = confab_store_embedded::EmbeddedStore::open(data_dir)?;
    let now = confab_core::now_ms();
    let users: Vec<confab_core::user::User> = (0..count)
        .map(|index| {
            let name = confab_core::ids::UserName::parse(&format!("{prefix}{index}"))
                .context("user names are letters and digits")?;
            Ok(confab_core::user::User {
                name,
                uuid: format!("bench-{prefix}{index}"),
                password_hash: String::new(),
                nickname: String::new(),
                activated: true,
                created_ms: now,
                modified_ms: now,
                tokens_issued_from: 0,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    for chunk in users.chunks(1000) {
        store.create_users(&app, chunk).await?;
    }
    eprintln!("seeded {count} users {prefix}0.. in {}", data_dir.display());
    Ok(())
}

async fn seed_presence(
    data_dir: &std::path::Path,
    app_key: &str,
    prefix: &str,
    count: usize,
    per_user: usize,
) -> anyhow::Result<()> {
    use confab_core::store::{PresenceStore, SubscribeChange};
    if per_user == 0 || per_user >= count {
        bail!("--per-user: 1 to count - 1 (each user subscribes to others only)");
    }
    let app = confab_core::ids::AppKey::parse(app_key).context("--app-key must be org#app")?;
    let store = confab_store_embedded::EmbeddedStore::open(data_dir)?;
    let now = confab_core::now_ms();
    let expires_ms = now + 24 * 3600 * 1000;
    let name = |index: usize| {
        confab_core::ids::UserName::parse(&format!("{prefix}{index}"))
            .context("user names are letters and digits")
    };
    // Concurrent calls share the writer's group commits; the limit is the server's to enforce
    // on REST, so the store's check here gets one that never refuses.
    let (_, elapsed) = bounded(count, 64, |index| {
        let (store, app) = (&store, &app);
        let subscriber = name(index);
        let targets: anyhow::Result<Vec<_>> = (1..=per_user)
            .map(|step| name((index + step) % count))
            .collect();
        async move {
            let change = store
                .subscribe_presence(app, &subscriber?, &targets?, expires_ms, now, u32::MAX)
                .await?;
            if change != SubscribeChange::Done {
                bail!("the store refused the subscriptions of {prefix}{index}");
            }
            Ok(())
        }
    })
    .await?;
    eprintln!(
        "seeded {} presence subscriptions of {prefix}0.. ({per_user} each) in {elapsed:?}",
        count * per_user
    );
    Ok(())
}

async fn idle(target: &TargetArgs, connections: usize, server: ProcessProbe) -> anyhow::Result<()> {
    let rss_before = server.rss_kib()?;
    let tokens = target.mint_tokens(connections)?;
    let (conns, elapsed) = bounded(connections, target.login_concurrency, |index| {
        target.login(index, &tokens)
    })
    .await?;
    // Let buffers and allocator settle before reading the resident size.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = server.rss_kib()?;
    let figures = json!({
        "scenario": "idle",
        "server": target.name(),
        "connections": connections,
        "logins_per_sec": connections as f64 / elapsed.as_secs_f64(),
        "rss_kib_before": rss_before,
        "rss_kib_after": rss_after,
        "rss_kib_per_connection": rss_after.saturating_sub(rss_before) as f64 / connections as f64,
    });
    println!("{figures}");
    drop(conns);
    Ok(())
}

async fn pingpong(
    target: &TargetArgs,
    pairs: usize,
    (warmup, measure): (Duration, Duration),
    server: ProcessProbe,
) -> anyhow::Result<()> {
    let tokens = target.mint_tokens(pairs * 2)?;
    let (conns, _) = bounded(pairs * 2, target.login_concurrency, |index| {
        target.login(index, &tokens)
    })
    .await?;
    let recorder = std::sync::Arc::new(Recorder::default());
    let started = Instant::now();
    let stop_at = started + warmup + measure;
    let mut tasks = tokio::task::JoinSet::new();
    for (index, conn) in conns.into_iter().enumerate() {
        let peer_index = index ^ 1;
        // One ball per pair: the even side serves, then each side answers what it receives,
        // so one message is in flight per pair, each way in turn.
        let serves = index % 2 == 0;
        let (peer, recorder) = (target.user(peer_index), recorder.clone());
        let peer_id = relay_id(peer_index)?;
        tasks.spawn(async move {
            match conn {
                Conn::Msync(c) => c.pingpong(&peer, &recorder, stop_at, serves).await,
                Conn::Xmpp(c) => c.pingpong(&peer, &recorder, stop_at, serves).await,
                Conn::Relay(c) => c.pingpong(peer_id, &recorder, stop_at, serves).await,
            }
        });
    }
    // The loader's own CPU too: a loader near its core's limit adds its queue to every
    // latency it measures (against the relay it is the bottleneck).
    let loader = ProcessProbe::this_process();
    tokio::time::sleep_until(started + warmup).await;
    let cpu_before = server.cpu_us()?;
    let loader_cpu_before = loader.cpu_us()?;
    recorder.start_measuring();
    tokio::time::sleep(measure).await;
    recorder.stop_measuring();
    let cpu_after = server.cpu_us()?;
    let loader_cpu_after = loader.cpu_us()?;
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    let delivered = recorder.delivered_count();
    if delivered == 0 {
        bail!("nothing was delivered while measuring");
    }
    let [p50, p99, p999] = recorder.percentiles_ms();
    let figures = json!({
        "scenario": "pingpong",
        "server": target.name(),
        "pairs": pairs,
        "delivered_per_sec": delivered as f64 / measure.as_secs_f64(),
        "latency_ms_p50": p50,
        "latency_ms_p99": p99,
        "latency_ms_p999": p999,
        "server_cpu_us_per_message": cpu_after.saturating_sub(cpu_before) as f64 / delivered as f64,
        "loader_cpu_us_per_message":
            loader_cpu_after.saturating_sub(loader_cpu_before) as f64 / delivered as f64,
        "loader_busy": loader_cpu_after.saturating_sub(loader_cpu_before) as f64
            / measure.as_micros() as f64,
    });
    println!("{figures}");
    Ok(())
}

async fn offline(target: &TargetArgs, messages: u64, in_flight: u64) -> anyhow::Result<()> {
    let (sender, receiver) = (target.login(0, &[]).await?, 1);
    let recipient = target.user(receiver);
    let started = Instant::now();
    let stored_secs = match sender {
        Conn::Msync(mut c) => {
            c.send_acknowledged(&recipient, messages, in_flight).await?;
            started.elapsed()
        }
        Conn::Xmpp(mut c) => {
            c.send_acknowledged(&recipient, messages, in_flight).await?;
            started.elapsed()
        }
        Conn::Relay(_) => bail!("the relay stores nothing: no offline scenario"),
    }
    .as_secs_f64();
    let started = Instant::now();
    let drained = match target.login(receiver, &[]).await? {
        Conn::Msync(mut c) => c.drain(messages).await?,
        Conn::Xmpp(mut c) => c.drain(messages).await?,
        Conn::Relay(_) => bail!("the relay stores nothing: no offline scenario"),
    };
    let drained_secs = started.elapsed().as_secs_f64();
    let figures = json!({
        "scenario": "offline",
        "server": target.name(),
        "messages": messages,
        "in_flight": in_flight,
        "stored_per_sec": messages as f64 / stored_secs,
        "drained_per_sec": drained as f64 / drained_secs,
    });
    println!("{figures}");
    Ok(())
}
