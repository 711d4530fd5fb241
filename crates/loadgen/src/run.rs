//! The traffic: servers, the tuple scheduler, the client workers.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::capture::Capture;
use crate::{Closer, Config, ConnTruth, Pattern, Rng, Totals, Truth, TupleTruth, TRUTH_FORMAT};

const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// Read timeout of every data socket: a peer that stalls this long is a bug.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Linux keeps TIME_WAIT this long (TCP_TIMEWAIT_LEN).
const TIME_WAIT_LEN: Duration = Duration::from_secs(60);

/// What the seeded plan says about one connection.
#[derive(Clone, Copy, Debug)]
struct Planned {
    pattern: Pattern,
    resp_len: u16,
}

fn plan(cfg: &Config) -> Vec<Planned> {
    let mut rng = Rng::new(cfg.seed);
    let total: u64 = cfg.mix.0.values().map(|&w| u64::from(w)).sum();
    (0..cfg.conns)
        .map(|_| {
            let mut x = rng.below(total);
            let mut pattern = Pattern::Latency;
            for (&p, &w) in &cfg.mix.0 {
                if x < u64::from(w) {
                    pattern = p;
                    break;
                }
                x -= u64::from(w);
            }
            let max = u64::from(cfg.resp_max);
            let resp_len = match pattern {
                Pattern::Latency => 0,
                Pattern::HalfClose => 1 + rng.below(max.max(1)),
                _ => rng.below(max + 1),
            } as u16;
            Planned { pattern, resp_len }
        })
        .collect()
}

/// A two-party meeting point with a timeout (both sides of a simultaneous
/// close wait here, then call `shutdown(Write)` together).
#[derive(Default)]
struct Rendezvous {
    arrived: Mutex<u8>,
    cv: Condvar,
}

impl Rendezvous {
    fn meet(&self) -> io::Result<()> {
        let mut n = lock(&self.arrived);
        *n += 1;
        if *n >= 2 {
            self.cv.notify_all();
            return Ok(());
        }
        let (n, _) = self
            .cv
            .wait_timeout_while(n, IO_TIMEOUT, |n| *n < 2)
            .unwrap_or_else(|e| e.into_inner());
        if *n < 2 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer never reached the simultaneous-close rendezvous",
            ));
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// State shared by servers and clients.
struct Shared {
    stop_servers: AtomicBool,
    server_errors: Mutex<Vec<String>>,
    /// Rendezvous of simultaneous closes, by (client port, server port).
    rendezvous: Mutex<HashMap<(u16, u16), Arc<Rendezvous>>>,
}

fn serve(mut s: TcpStream, sh: &Shared) -> io::Result<()> {
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    let mut req = [0u8; 4];
    s.read_exact(&mut req)?;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("bad request {req:?}"));
    if req[0] != b'Q' {
        return Err(bad());
    }
    let pattern = Pattern::from_code(req[1]).ok_or_else(bad)?;
    let body = vec![b'r'; usize::from(u16::from_be_bytes([req[2], req[3]]))];
    match pattern {
        // Close at once: our FIN goes first, the client answers with ACK + RST.
        Pattern::Latency => {}
        Pattern::Assassinate => s.write_all(&body)?,
        Pattern::ClientFirst => {
            s.write_all(&body)?;
            expect_eof(&mut s)?;
        }
        Pattern::Simultaneous => {
            s.write_all(&body)?;
            let key = (s.peer_addr()?.port(), s.local_addr()?.port());
            let rv = lock(&sh.rendezvous).get(&key).cloned().ok_or_else(|| {
                io::Error::other(format!("no rendezvous for client port {}", key.0))
            })?;
            rv.meet()?;
            s.shutdown(Shutdown::Write)?;
            expect_eof(&mut s)?;
        }
        Pattern::HalfClose => {
            expect_eof(&mut s)?;
            s.write_all(&body)?;
        }
        Pattern::Refused => return Err(bad()),
    }
    Ok(())
}

/// Reads until EOF, failing on any data.
fn expect_eof(s: &mut TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 64];
    match s.read(&mut buf)? {
        0 => Ok(()),
        n => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{n} unexpected bytes before EOF"),
        )),
    }
}

/// Reads until EOF, returning how many bytes came.
fn read_to_eof(s: &mut TcpStream) -> io::Result<u64> {
    let mut buf = [0u8; 4096];
    let mut n = 0u64;
    loop {
        match s.read(&mut buf)? {
            0 => return Ok(n),
            k => n += k as u64,
        }
    }
}

fn acceptor(listener: TcpListener, sh: &Shared) {
    while !sh.stop_servers.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((s, peer)) => {
                if let Err(e) = serve(s, sh) {
                    lock(&sh.server_errors).push(format!("server side of {peer}: {e}"));
                }
            }
            // SO_RCVTIMEO on the listener bounds accept(): check the flag.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                lock(&sh.server_errors).push(format!("accept: {e}"));
                return;
            }
        }
    }
}

/// Per-4-tuple scheduling state.
struct TupleState {
    busy: bool,
    ready_at: Instant,
}

struct SchedInner {
    next: usize,
    failed: bool,
    tuples: Vec<TupleState>,
    /// With a rate: when the first job was handed out.
    paced_from: Option<Instant>,
}

/// Hands out (connection, tuple) jobs: a tuple carries one connection at a
/// time, rests after a client-side TIME_WAIT, and stays with its worker after
/// an `assassinate` connection so that the next SYN reuses it at once.
struct Sched {
    inner: Mutex<SchedInner>,
    cv: Condvar,
    total: usize,
    tw_wait: Duration,
    /// Connections per second (`--rate`), None: as fast as the tuples allow.
    rate: Option<f64>,
}

struct Job {
    id: usize,
    tuple: usize,
}

impl Sched {
    fn take(&self, sticky: Option<usize>) -> Option<Job> {
        let mut g = lock(&self.inner);
        loop {
            if g.failed || g.next >= self.total {
                if let Some(t) = sticky {
                    g.tuples[t].busy = false;
                    self.cv.notify_all();
                }
                return None;
            }
            let now = Instant::now();
            // Paced: connection n is not handed out before n / rate
            // seconds after the first.
            if let Some(rate) = self.rate {
                let from = *g.paced_from.get_or_insert(now);
                let due = from + Duration::from_secs_f64(g.next as f64 / rate);
                if due > now {
                    g = self
                        .cv
                        .wait_timeout(g, due - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    continue;
                }
            }
            let pick = sticky.or_else(|| {
                g.tuples
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| !t.busy && t.ready_at <= now)
                    .min_by_key(|(i, t)| (t.ready_at, *i))
                    .map(|(i, _)| i)
            });
            if let Some(t) = pick {
                let id = g.next;
                g.next += 1;
                g.tuples[t].busy = true;
                return Some(Job { id, tuple: t });
            }
            let wait = g
                .tuples
                .iter()
                .filter(|t| !t.busy)
                .map(|t| t.ready_at.saturating_duration_since(now))
                .min()
                .unwrap_or(Duration::from_millis(50))
                .max(Duration::from_micros(200));
            g = self
                .cv
                .wait_timeout(g, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn release(&self, tuple: usize, pattern: Pattern, keep: bool) {
        let mut g = lock(&self.inner);
        let now = Instant::now();
        let ts = &mut g.tuples[tuple];
        ts.ready_at = if pattern.client_time_wait() {
            now + self.tw_wait
        } else {
            now
        };
        if !keep {
            ts.busy = false;
            self.cv.notify_all();
        }
    }

    fn fail(&self) {
        lock(&self.inner).failed = true;
        self.cv.notify_all();
    }
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn retryable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable
    )
}

/// The outcome of [`connect`].
struct Connected {
    stream: TcpStream,
    /// Connects refused locally (no SYN sent).
    retries: u32,
    /// Time from the first attempt to the successful connect() call.
    waited: Duration,
    /// Duration of the successful connect() call.
    connect_time: Duration,
    /// Attempts whose SYN the server's kernel answered with RST/ACK (their
    /// start and end): each is a connection of its own on the wire.
    refused: Vec<(SystemTime, SystemTime)>,
}

/// Connects from `client` to `server`, retrying while the kernel refuses the
/// 4-tuple locally (no SYN is sent then) and after a SYN refused by RST/ACK.
fn connect(client: SocketAddrV4, server: SocketAddrV4, deadline: Duration) -> Result<Connected> {
    let t0 = Instant::now();
    let mut retries = 0u32;
    let mut refused = Vec::new();
    loop {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        s.set_tcp_nodelay(true)?;
        let err = match s.bind(&client.into()) {
            Err(e) => e,
            Ok(()) => {
                let waited = t0.elapsed();
                let tc = Instant::now();
                let at = SystemTime::now();
                match s.connect(&server.into()) {
                    Ok(()) => {
                        return Ok(Connected {
                            stream: s.into(),
                            retries,
                            waited,
                            connect_time: tc.elapsed(),
                            refused,
                        })
                    }
                    // Our SYN met a server-side socket of the previous
                    // connection on this tuple that the server's stack had
                    // not yet torn down (loopback packets sent from different
                    // CPUs can be processed out of order): that answers RST.
                    Err(e)
                        if e.kind() == io::ErrorKind::ConnectionRefused && refused.len() < 100 =>
                    {
                        refused.push((at, SystemTime::now()));
                        continue;
                    }
                    Err(e) => e,
                }
            }
        };
        if !retryable(&err) {
            bail!("connect {client} -> {server}: {err}");
        }
        if t0.elapsed() > deadline {
            bail!(
                "connect {client} -> {server}: still {err} after {retries} retries in {:?}",
                t0.elapsed()
            );
        }
        retries += 1;
        std::thread::sleep(Duration::from_micros(500 << retries.min(5)));
    }
}

fn client_conn(
    job: &Job,
    planned: Planned,
    client: SocketAddrV4,
    server: SocketAddrV4,
    cfg: &Config,
    sh: &Shared,
) -> Result<Vec<ConnTruth>> {
    let pattern = planned.pattern;
    let key = (client.port(), server.port());
    let rv = (pattern == Pattern::Simultaneous).then(|| {
        let rv = Arc::new(Rendezvous::default());
        lock(&sh.rendezvous).insert(key, Arc::clone(&rv));
        rv
    });
    let start = SystemTime::now();
    let Connected {
        stream: mut s,
        retries,
        waited,
        connect_time,
        refused,
    } = connect(client, server, cfg.connect_deadline)?;
    let start = refused.last().map_or(start, |r| r.1);
    let ctx = || format!("{pattern} connection {client} -> {server}");
    s.set_read_timeout(Some(IO_TIMEOUT)).with_context(ctx)?;
    let len = planned.resp_len.to_be_bytes();
    s.write_all(&[b'Q', pattern.code(), len[0], len[1]])
        .with_context(ctx)?;
    let want = u64::from(planned.resp_len);
    let got = match pattern {
        Pattern::Latency => {
            let n = read_to_eof(&mut s).with_context(ctx)?;
            // The ACK of the server's FIN is only scheduled (delayed ACK);
            // TCP_QUICKACK in CLOSE_WAIT sends it now, so the capture shows
            // the client's ACK and then its RST/ACK instead of one RST/ACK.
            SockRef::from(&s).set_tcp_quickack(true).with_context(ctx)?;
            // Abort: our ACK of the server's FIN is followed by RST/ACK.
            SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .with_context(ctx)?;
            n
        }
        Pattern::Assassinate => read_to_eof(&mut s).with_context(ctx)?,
        Pattern::ClientFirst => {
            let mut buf = vec![0u8; planned.resp_len.into()];
            s.read_exact(&mut buf).with_context(ctx)?;
            want
        }
        Pattern::Simultaneous => {
            let mut buf = vec![0u8; planned.resp_len.into()];
            s.read_exact(&mut buf).with_context(ctx)?;
            let rv = rv.as_ref().expect("rendezvous made above");
            rv.meet().with_context(ctx)?;
            s.shutdown(Shutdown::Write).with_context(ctx)?;
            expect_eof(&mut s).with_context(ctx)?;
            want
        }
        Pattern::HalfClose => {
            s.shutdown(Shutdown::Write).with_context(ctx)?;
            read_to_eof(&mut s).with_context(ctx)?
        }
        Pattern::Refused => bail!("`refused` is not a pattern one can plan"),
    };
    drop(s);
    let end = SystemTime::now();
    if rv.is_some() {
        lock(&sh.rendezvous).remove(&key);
    }
    if got != want {
        bail!("{}: got {got} reply bytes, expected {want}", ctx());
    }
    let mut out: Vec<ConnTruth> = refused
        .iter()
        .map(|&(a, b)| ConnTruth {
            id: job.id,
            pattern: Pattern::Refused,
            orig_h: client.ip().to_string(),
            orig_p: client.port(),
            resp_h: server.ip().to_string(),
            resp_p: server.port(),
            orig_bytes: 0,
            resp_bytes: 0,
            closed_first: Closer::Server,
            aborted: true,
            aborted_by: Some(Closer::Server),
            start: epoch(a),
            end: epoch(b),
            tuple_seq: 0,
            connect_retries: 0,
            connect_wait_us: 0,
            connect_us: b.duration_since(a).unwrap_or_default().as_micros() as u64,
            after_server_time_wait: false,
            after_client_time_wait: false,
            syns: 0,
            stale_acks: 0,
            stray_rsts: 0,
        })
        .collect();
    out.push(ConnTruth {
        id: job.id,
        pattern,
        orig_h: client.ip().to_string(),
        orig_p: client.port(),
        resp_h: server.ip().to_string(),
        resp_p: server.port(),
        orig_bytes: 4,
        resp_bytes: got,
        closed_first: pattern.closed_first(),
        aborted: pattern.aborted_by().is_some(),
        aborted_by: pattern.aborted_by(),
        start: epoch(start),
        end: epoch(end),
        tuple_seq: 0,
        connect_retries: retries,
        connect_wait_us: waited.as_micros() as u64,
        connect_us: connect_time.as_micros() as u64,
        after_server_time_wait: false,
        after_client_time_wait: false,
        syns: 0,
        stale_acks: 0,
        stray_rsts: 0,
    });
    Ok(out)
}

/// How long a tuple rests after the client went to TIME_WAIT on it: Linux
/// (tcp_tw_reuse = 2, the default, covers loopback) lets a connect reuse a
/// TIME_WAIT 4-tuple `tcp_tw_reuse_delay` ms (default 1000) after it entered
/// TIME_WAIT; older kernels wait for the seconds clock to tick.
fn time_wait_rest(quiet: bool) -> Duration {
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    if read("tcp_tw_reuse") == Some(0) {
        if !quiet {
            eprintln!(
                "quartet-loadgen: net.ipv4.tcp_tw_reuse = 0: a client TIME_WAIT blocks its 4-tuple for 60 s"
            );
        }
        return TIME_WAIT_LEN + Duration::from_secs(1);
    }
    Duration::from_millis(read("tcp_tw_reuse_delay").unwrap_or(1000) + 5)
}

/// Runs the generator: traffic, capture, truth file. Fails if libpcap
/// dropped any packet (after writing the truth, which records the drops).
pub fn run(cfg: &Config) -> Result<Truth> {
    if cfg.conns == 0 || cfg.ports == 0 || cfg.servers == 0 || cfg.concurrency == 0 {
        bail!("--conns, --ports, --servers and --concurrency must be positive");
    }
    if u32::from(cfg.base_port) + u32::from(cfg.ports) > 65536 || cfg.base_port == 0 {
        bail!(
            "the source-port pool {}+{} does not fit",
            cfg.base_port,
            cfg.ports
        );
    }
    let planned = plan(cfg);
    let client_ports: Vec<u16> = (0..cfg.ports).map(|i| cfg.base_port + i).collect();

    // Listeners on ephemeral ports; SO_RCVTIMEO makes accept() return
    // periodically so the acceptors can see the stop flag.
    let mut listeners = Vec::new();
    for _ in 0..cfg.servers {
        let l = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        l.bind(&SocketAddrV4::new(LO, 0).into())?;
        l.listen(1024)?;
        l.set_read_timeout(Some(Duration::from_millis(100)))?;
        listeners.push(TcpListener::from(l));
    }
    let server_ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<io::Result<_>>()?;
    if let Some(p) = server_ports.iter().find(|p| client_ports.contains(p)) {
        bail!("server port {p} falls in the source-port pool; choose another --base-port");
    }
    let tuples: Vec<(u16, u16)> = client_ports
        .iter()
        .flat_map(|&c| server_ports.iter().map(move |&s| (c, s)))
        .collect();

    let sh = Shared {
        stop_servers: AtomicBool::new(false),
        server_errors: Mutex::new(Vec::new()),
        rendezvous: Mutex::new(HashMap::new()),
    };
    let sched = Sched {
        inner: Mutex::new(SchedInner {
            next: 0,
            failed: false,
            tuples: tuples
                .iter()
                .map(|_| TupleState {
                    busy: false,
                    ready_at: Instant::now(),
                })
                .collect(),
            paced_from: None,
        }),
        cv: Condvar::new(),
        total: planned.len(),
        tw_wait: time_wait_rest(cfg.quiet),
        rate: (cfg.rate > 0.0).then_some(cfg.rate),
    };

    let ports_expr: Vec<String> = server_ports.iter().map(|p| format!("port {p}")).collect();
    let filter = format!("tcp and host 127.0.0.1 and ({})", ports_expr.join(" or "));
    let capture = Capture::start(
        &cfg.device,
        &filter,
        cfg.snaplen,
        cfg.buffer_bytes,
        &cfg.pcap,
    )?;

    let t0 = Instant::now();
    let (mut conns, client_error) = std::thread::scope(|scope| {
        for l in &listeners {
            for _ in 0..=cfg.concurrency {
                let l = l.try_clone().expect("cloning a listener");
                let sh = &sh;
                scope.spawn(move || acceptor(l, sh));
            }
        }
        let workers: Vec<_> = (0..cfg.concurrency)
            .map(|_| {
                let (sched, sh, planned, tuples) = (&sched, &sh, &planned, &tuples);
                scope.spawn(move || -> Result<Vec<ConnTruth>> {
                    let mut out = Vec::new();
                    let mut sticky = None;
                    while let Some(job) = sched.take(sticky.take()) {
                        let p = planned[job.id];
                        let (c, s) = tuples[job.tuple];
                        let r = client_conn(
                            &job,
                            p,
                            SocketAddrV4::new(LO, c),
                            SocketAddrV4::new(LO, s),
                            cfg,
                            sh,
                        );
                        let keep = r.is_ok() && p.pattern == Pattern::Assassinate;
                        sched.release(job.tuple, p.pattern, keep);
                        match r {
                            Ok(t) => out.extend(t),
                            Err(e) => {
                                sched.fail();
                                return Err(e);
                            }
                        }
                        if keep {
                            sticky = Some(job.tuple);
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        let mut all = Vec::new();
        let mut err = None;
        for w in workers {
            match w.join() {
                Ok(Ok(v)) => all.extend(v),
                Ok(Err(e)) => err = err.or(Some(e)),
                Err(_) => err = err.or(Some(anyhow!("a client worker panicked"))),
            }
        }
        // Servers finish their last connections on their own; stop them once
        // the clients are done.
        sh.stop_servers.store(true, Ordering::Release);
        (all, err)
    });
    let elapsed = t0.elapsed();
    std::thread::sleep(cfg.grace);
    let stats = capture.finish()?;
    if let Some(e) = client_error {
        return Err(e.context("traffic failed; the capture and truth are incomplete"));
    }
    let server_errors = std::mem::take(&mut *lock(&sh.server_errors));
    if !server_errors.is_empty() {
        bail!(
            "{} server-side errors, first: {}",
            server_errors.len(),
            server_errors[0]
        );
    }

    conns.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.id.cmp(&b.id)));
    // Per tuple: the sequence number and what the previous connection left.
    let mut last: HashMap<(u16, u16), (u32, Pattern, f64)> = HashMap::new();
    for c in &mut conns {
        let e = last.entry((c.orig_p, c.resp_p));
        let tw = TIME_WAIT_LEN.as_secs_f64();
        if let std::collections::hash_map::Entry::Occupied(o) = &e {
            let (seq, p, end) = *o.get();
            c.tuple_seq = seq + 1;
            c.after_server_time_wait = p.server_time_wait() && c.start - end < tw;
            c.after_client_time_wait = p.client_time_wait() && c.start - end < tw;
        }
        let v = (c.tuple_seq, c.pattern, c.end);
        e.and_modify(|x| *x = v).or_insert(v);
    }
    crate::annotate::handshakes(&cfg.pcap, &mut conns)?;
    let mut totals = Totals {
        connections: conns.len(),
        ..Totals::default()
    };
    let mut per_tuple: BTreeMap<(u16, u16), TupleTruth> = BTreeMap::new();
    for c in &conns {
        totals.connect_retries += u64::from(c.connect_retries);
        totals.stale_acks += u64::from(c.stale_acks);
        *totals.by_pattern.entry(c.pattern).or_insert(0) += 1;
        let t = per_tuple
            .entry((c.orig_p, c.resp_p))
            .or_insert_with(|| TupleTruth {
                orig_h: c.orig_h.clone(),
                orig_p: c.orig_p,
                resp_h: c.resp_h.clone(),
                resp_p: c.resp_p,
                connections: 0,
                by_pattern: BTreeMap::new(),
            });
        t.connections += 1;
        *t.by_pattern.entry(c.pattern).or_insert(0) += 1;
    }
    let truth = Truth {
        format: TRUTH_FORMAT.into(),
        generator: format!("quartet-loadgen {}", env!("CARGO_PKG_VERSION")),
        seed: cfg.seed,
        conns: cfg.conns,
        ports: cfg.ports,
        mix: cfg.mix.0.clone(),
        pcap: cfg.pcap.display().to_string(),
        server_ports,
        client_ports,
        elapsed_s: elapsed.as_secs_f64(),
        capture: stats,
        totals,
        tuples: per_tuple.into_values().collect(),
        connections: conns,
    };
    let f = std::fs::File::create(&cfg.truth)
        .with_context(|| format!("cannot write {}", cfg.truth.display()))?;
    let mut w = io::BufWriter::new(f);
    serde_json::to_writer(&mut w, &truth)?;
    w.write_all(b"\n")?;
    w.flush()?;
    let st = &truth.capture;
    if !cfg.quiet {
        eprintln!(
            "quartet-loadgen: {} connections over {} tuples in {:.2} s ({:.0}/s), {} connect retries, {} stale ACKs; \
             capture: {} received, {} dropped by kernel, {} dropped by interface, {} written",
            truth.totals.connections,
            truth.tuples.len(),
            truth.elapsed_s,
            truth.totals.connections as f64 / truth.elapsed_s.max(1e-9),
            truth.totals.connect_retries,
            truth.totals.stale_acks,
            st.received,
            st.dropped,
            st.if_dropped,
            st.written
        );
    }
    if st.dropped > 0 || st.if_dropped > 0 {
        bail!(
            "libpcap dropped packets ({} by the kernel, {} by the interface): the capture does not hold all the traffic",
            st.dropped,
            st.if_dropped
        );
    }
    Ok(truth)
}
