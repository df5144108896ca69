//! The simulator's state and its handle, [`Sim`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use glase_shared::{Amount, AuthToken, Currency, InvoiceId, IssuerName, Payer, PurchaseTime};

use crate::model::PAID;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use secrecy::SecretString;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Faults, ReportFormat, SimConfig};
use crate::model::{
    Attempt, DetailFetchStats, NewInvoice, NotificationStatus, SimError, SimInvoice,
};
use crate::reply::Reply;
use crate::rng::SplitMix64;

/// The first invoice id a simulator hands out.
pub const FIRST_INVOICE_ID: u64 = 1000;

/// A handle on one simulated Glase. Cheap to clone; all clones share the same state.
#[derive(Clone)]
pub struct Sim {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Issuer {
    pub(crate) name: IssuerName,
    pub(crate) token: AuthToken,
    pub(crate) notify_url: Option<String>,
}

pub(crate) struct Inner {
    pub(crate) issuers: Vec<Issuer>,
    pub(crate) time_scale: f64,
    pub(crate) zone: TimeZone,
    pub(crate) http: reqwest::Client,
    state: Mutex<State>,
    /// Bumped on every change, so waiters wake up.
    changed: watch::Sender<u64>,
    /// Becomes true when the simulator stops: hanging requests and notification loops end.
    pub(crate) stopped: watch::Sender<bool>,
}

struct State {
    next_id: u64,
    invoices: BTreeMap<u64, Entry>,
    faults: Faults,
    data_rng: SplitMix64,
    fault_rng: SplitMix64,
    fetches: HashMap<u64, DetailFetchStats>,
    report_format: ReportFormat,
    /// While true, notification attempts fail without being sent.
    webhook_outage: bool,
    /// Scripted details answers: once each, in order, then the standing one.
    next_replies: HashMap<u64, VecDeque<Reply>>,
    replies: HashMap<u64, Reply>,
    /// Every report request's (startDate, endDate) with a valid token and dates, in order.
    report_requests: Vec<(Date, Date)>,
    /// Report requests whose window holds one of these days are answered 500.
    refused_report_days: Vec<Date>,
}

struct Entry {
    invoice: SimInvoice,
    attempts: Vec<Attempt>,
    notification: NotificationStatus,
}

/// A snapshot of one invoice's counters, for `/_sim/stats`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceStats {
    pub id: u64,
    pub issuer: String,
    pub detail_fetches: DetailFetchStats,
    pub notification: NotificationStatus,
    pub attempts: usize,
}

impl Sim {
    /// Builds a simulator. Panics with the reason if the configuration is invalid; use
    /// [`Sim::try_new`] to get the error instead.
    pub fn new(config: SimConfig) -> Sim {
        match Self::try_new(config) {
            Ok(sim) => sim,
            Err(e) => panic!("glase-sim: {e}"),
        }
    }

    /// Builds a simulator, or says what is wrong with the configuration.
    pub fn try_new(config: SimConfig) -> Result<Sim, SimError> {
        if !config.time_scale.is_finite() || config.time_scale < 0.0 {
            return Err(SimError::InvalidConfig(format!(
                "time_scale must be a finite number >= 0, got {}",
                config.time_scale
            )));
        }
        config.faults.validate().map_err(SimError::InvalidConfig)?;
        if config.issuers.is_empty() {
            return Err(SimError::InvalidConfig(
                "at least one issuer is needed".into(),
            ));
        }
        let mut issuers = Vec::with_capacity(config.issuers.len());
        for ic in &config.issuers {
            let name = IssuerName::parse(&ic.name)
                .map_err(|e| SimError::InvalidIssuer(format!("{:?}: {e}", ic.name)))?;
            if issuers.iter().any(|i: &Issuer| i.name == name) {
                return Err(SimError::InvalidConfig(format!(
                    "issuer {:?} is configured twice",
                    ic.name
                )));
            }
            if let Some(url) = &ic.notify_url {
                check_url(url)?;
            }
            let token = AuthToken::derive(&name, &SecretString::from(ic.secret.clone()));
            issuers.push(Issuer {
                name,
                token,
                notify_url: ic.notify_url.clone(),
            });
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("glase-sim/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SimError::InvalidConfig(format!("cannot build the HTTP client: {e}")))?;
        let inner = Inner {
            issuers,
            time_scale: config.time_scale,
            zone: config.time_zone.clone(),
            http,
            state: Mutex::new(State {
                next_id: FIRST_INVOICE_ID,
                invoices: BTreeMap::new(),
                faults: config.faults,
                data_rng: SplitMix64::new(config.seed),
                fault_rng: SplitMix64::new(config.seed ^ 0x5EED_FA17_5EED_FA17),
                fetches: HashMap::new(),
                report_format: config.report_format,
                webhook_outage: false,
                next_replies: HashMap::new(),
                replies: HashMap::new(),
                report_requests: Vec::new(),
                refused_report_days: Vec::new(),
            }),
            changed: watch::channel(0).0,
            stopped: watch::channel(false).0,
        };
        let sim = Sim {
            inner: Arc::new(inner),
        };
        for new in &config.initial_invoices {
            let mut new = new.clone();
            // Sample invoices are never notified.
            new.notify_url = None;
            let invoice = sim.validate(&new, None)?;
            sim.insert(invoice, NotificationStatus::NotScheduled);
        }
        Ok(sim)
    }

    /// The Glase API (`/api/…`) and the admin API (`/_sim/…`), to serve yourself.
    pub fn router(&self) -> axum::Router {
        crate::http::router(self.clone())
    }

    /// Builds a simulator and serves it on `addr` (port 0 picks a free port).
    pub async fn serve(config: SimConfig, addr: SocketAddr) -> std::io::Result<RunningSim> {
        let sim = Sim::try_new(config)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        sim.spawn_server(addr).await
    }

    /// Serves this simulator on `addr` in the background.
    pub async fn spawn_server(&self, addr: SocketAddr) -> std::io::Result<RunningSim> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mut stopped = self.inner.stopped.subscribe();
        let app = self.router();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "glase-sim server failed");
            }
        });
        tracing::info!(%addr, "glase-sim listening");
        Ok(RunningSim {
            addr,
            sim: self.clone(),
            task: Some(task),
        })
    }

    /// Creates a PAID invoice and, when there is a URL to notify, starts Glase's notification
    /// schedule in the background. Must be called inside a Tokio runtime.
    pub async fn pay(&self, new: NewInvoice) -> Result<SimInvoice, SimError> {
        let issuer_url = self.issuer(&new.issuer).and_then(|i| i.notify_url.clone());
        let invoice = self.validate(&new, issuer_url)?;
        let status = if invoice.notify_url.is_some() && !self.is_stopped() {
            NotificationStatus::Pending
        } else {
            NotificationStatus::NotScheduled
        };
        let invoice = self.insert(invoice, status);
        tracing::info!(id = %invoice.id, issuer = %invoice.issuer, amount = %invoice.amount,
            currency = %invoice.currency, "invoice paid");
        if status == NotificationStatus::Pending {
            if let Some(url) = invoice.notify_url.clone() {
                tokio::spawn(crate::notify::run(self.clone(), invoice.id.get(), url));
            }
        }
        Ok(invoice)
    }

    /// The invoice exactly as served, if it exists.
    pub fn invoice(&self, id: u64) -> Option<SimInvoice> {
        self.state().invoices.get(&id).map(|e| e.invoice.clone())
    }

    /// Every invoice, by id.
    pub fn invoices(&self) -> Vec<SimInvoice> {
        self.state()
            .invoices
            .values()
            .map(|e| e.invoice.clone())
            .collect()
    }

    /// Every notification attempt made for the invoice so far (empty if unknown).
    pub fn attempts(&self, id: u64) -> Vec<Attempt> {
        self.state()
            .invoices
            .get(&id)
            .map(|e| e.attempts.clone())
            .unwrap_or_default()
    }

    /// Answers every details request for `id` (with a valid token) with `reply` instead of a
    /// simulated invoice, for tests of a client against answers of any shape.
    pub fn answer(&self, id: u64, reply: Reply) {
        self.state().replies.insert(id, reply);
    }

    /// Answers the next details request for `id` (with a valid token) with `reply`, once,
    /// before any standing answer.
    pub fn answer_next(&self, id: u64, reply: Reply) {
        self.state()
            .next_replies
            .entry(id)
            .or_default()
            .push_back(reply);
    }

    /// The scripted answer for this request for `id`, if there is one.
    pub(crate) fn scripted_reply(&self, id: u64) -> Option<Reply> {
        let mut state = self.state();
        if let Some(once) = state
            .next_replies
            .get_mut(&id)
            .and_then(VecDeque::pop_front)
        {
            return Some(once);
        }
        state.replies.get(&id).cloned()
    }

    /// Requests for the invoice's details: answered 200, and all of them.
    pub fn detail_fetches(&self, id: u64) -> DetailFetchStats {
        self.state().fetches.get(&id).copied().unwrap_or_default()
    }

    /// Where the invoice's notification stands; `None` for an unknown id.
    pub fn notification_status(&self, id: u64) -> Option<NotificationStatus> {
        self.state().invoices.get(&id).map(|e| e.notification)
    }

    /// True once the notification got a 200, gave up or will never be sent.
    /// False while attempts are pending, and for unknown ids.
    pub fn notification_done(&self, id: u64) -> bool {
        self.notification_status(id)
            .is_some_and(NotificationStatus::is_done)
    }

    /// Waits until [`Sim::notification_done`] is true, at most `timeout`. Returns whether it is.
    pub async fn wait_notification_done(&self, id: u64, timeout: Duration) -> bool {
        self.wait_until(timeout, |sim| sim.notification_done(id))
            .await
    }

    /// Waits until `condition` holds (it is checked after every change), at most `timeout`.
    /// Returns whether it holds.
    pub async fn wait_until(&self, timeout: Duration, condition: impl Fn(&Sim) -> bool) -> bool {
        let mut changes = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if condition(self) {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return condition(self),
            }
        }
    }

    /// Per-invoice counters, by id.
    pub fn stats(&self) -> Vec<InvoiceStats> {
        let state = self.state();
        state
            .invoices
            .values()
            .map(|e| InvoiceStats {
                id: e.invoice.id.get(),
                issuer: e.invoice.issuer.to_string(),
                detail_fetches: state
                    .fetches
                    .get(&e.invoice.id.get())
                    .copied()
                    .unwrap_or_default(),
                notification: e.notification,
                attempts: e.attempts.len(),
            })
            .collect()
    }

    /// The faults now in force.
    pub fn faults(&self) -> Faults {
        self.state().faults
    }

    /// Replaces the faults in force. Rates outside 0..=1 are clamped.
    pub fn set_faults(&self, faults: Faults) {
        let mut faults = faults;
        for f in [&mut faults.invoice, &mut faults.report] {
            for rate in [&mut f.error_rate, &mut f.too_many_rate, &mut f.hang_rate] {
                *rate = if rate.is_nan() {
                    0.0
                } else {
                    rate.clamp(0.0, 1.0)
                };
            }
        }
        self.state().faults = faults;
        tracing::info!(?faults, "faults set");
    }

    /// How `/api/report` writes its CSV now.
    pub fn report_format(&self) -> ReportFormat {
        self.state().report_format
    }

    /// Changes how `/api/report` writes its CSV (the client must read every shape alike).
    pub fn set_report_format(&self, format: ReportFormat) {
        self.state().report_format = format;
        tracing::info!(?format, "report format set");
    }

    /// The (startDate, endDate) of every report request with a valid token and dates, in order.
    pub fn report_requests(&self) -> Vec<(Date, Date)> {
        self.state().report_requests.clone()
    }

    /// Answers 500 to every report request whose window holds one of `days` (others are served
    /// as usual): Glase failing on one day of a longer run.
    pub fn refuse_report_days(&self, days: Vec<Date>) {
        tracing::info!(?days, "report days refused");
        self.state().refused_report_days = days;
    }

    /// Counts a report request for `start..=end`; true when one of its days is refused.
    pub(crate) fn record_report_request(&self, start: Date, end: Date) -> bool {
        let refused = {
            let mut state = self.state();
            state.report_requests.push((start, end));
            state
                .refused_report_days
                .iter()
                .any(|day| (start..=end).contains(day))
        };
        self.bump();
        refused
    }

    /// Whether the issuers' webhooks are "down".
    pub fn webhook_outage(&self) -> bool {
        self.state().webhook_outage
    }

    /// Takes every webhook down (or back up): while down, each scheduled notification attempt
    /// fails at once without being sent, as if the webhook refused connections. Left down past
    /// an invoice's last attempt (~32 h scaled), its notification ends `gave_up`: only the report
    /// still knows the invoice was paid.
    pub fn set_webhook_outage(&self, down: bool) {
        self.state().webhook_outage = down;
        tracing::info!(down, "webhook outage set");
        self.bump();
    }

    /// The zone of Glase's wall clock.
    pub fn time_zone(&self) -> &TimeZone {
        &self.inner.zone
    }

    /// The `X-Auth-Token` the simulator expects from `issuer`, if configured. Handy in tests.
    pub fn token_for(&self, issuer: &str) -> Option<String> {
        self.issuer(issuer).map(|i| i.token.expose().to_owned())
    }

    /// Stops notification loops and hanging requests, and any server spawned for this
    /// simulator. The state stays readable.
    pub fn stop(&self) {
        self.inner.stopped.send_replace(true);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        *self.inner.stopped.borrow()
    }

    pub(crate) fn issuer(&self, name: &str) -> Option<&Issuer> {
        self.inner.issuers.iter().find(|i| i.name.as_str() == name)
    }

    pub(crate) fn default_issuer(&self) -> &str {
        self.inner.issuers[0].name.as_str()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every update is one step).
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn bump(&self) {
        self.inner.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Checks a payment and builds the invoice, with id 0 reserved (set by `insert`).
    fn validate(
        &self,
        new: &NewInvoice,
        issuer_url: Option<String>,
    ) -> Result<SimInvoice, SimError> {
        let issuer = self
            .issuer(&new.issuer)
            .ok_or_else(|| SimError::UnknownIssuer(new.issuer.clone()))?;
        let amount = exact_two_decimals(&new.amount)?;
        let currency: Currency = new
            .currency
            .parse()
            .map_err(|e: glase_shared::CurrencyError| SimError::InvalidCurrency(e.to_string()))?;
        let notify_url = match &new.notify_url {
            Some(url) => {
                check_url(url)?;
                Some(url.clone())
            }
            None => issuer_url,
        };
        let at = new.purchase_time.unwrap_or_else(Timestamp::now);
        let at = Timestamp::from_second(at.as_second())
            .map_err(|e| SimError::InvalidPurchaseTime(e.to_string()))?;
        let clean = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let p = new.payer.clone().unwrap_or_default();
        let payer = Payer {
            msisdn: clean(&p.msisdn),
            first_name: clean(&p.first_name),
            last_name: clean(&p.last_name),
            street: clean(&p.street),
            city: clean(&p.city),
            zip: clean(&p.zip),
            country: clean(&p.country),
        };
        Ok(SimInvoice {
            id: InvoiceId::new(FIRST_INVOICE_ID).expect("1000 is a valid id"),
            issuer: issuer.name.clone(),
            description: new.description.clone(),
            amount,
            currency,
            status: PAID.to_owned(),
            reference: new.reference.clone(),
            ers_reference: String::new(),
            purchase_time: PurchaseTime::from_timestamp(at),
            payer,
            notify_url,
        })
    }

    /// Gives the invoice its id and ersReference, and stores it.
    fn insert(&self, mut invoice: SimInvoice, notification: NotificationStatus) -> SimInvoice {
        {
            let mut state = self.state();
            let id = state.next_id;
            state.next_id += 1;
            invoice.id = InvoiceId::new(id).expect("ids count up from 1000");
            invoice.ers_reference =
                format!("{}-{}", state.data_rng.digits(15), state.data_rng.digits(7));
            state.invoices.insert(
                id,
                Entry {
                    invoice: invoice.clone(),
                    attempts: Vec::new(),
                    notification,
                },
            );
        }
        self.bump();
        invoice
    }

    pub(crate) fn record_attempt(&self, id: u64, attempt: Attempt) {
        if let Some(e) = self.state().invoices.get_mut(&id) {
            e.attempts.push(attempt);
        }
        self.bump();
    }

    pub(crate) fn set_notification(&self, id: u64, status: NotificationStatus) {
        if let Some(e) = self.state().invoices.get_mut(&id) {
            e.notification = status;
        }
        self.bump();
    }

    /// Counts a details request for `id` (whatever its outcome).
    pub(crate) fn record_fetch(&self, id: u64) {
        self.state().fetches.entry(id).or_default().total += 1;
        self.bump();
    }

    /// Counts a details request for `id` answered 200.
    pub(crate) fn record_fetch_ok(&self, id: u64) {
        self.state().fetches.entry(id).or_default().ok += 1;
        self.bump();
    }

    /// One draw of the fault generator, in `[0, 1)`, with the faults in force.
    pub(crate) fn draw_fault(&self) -> (Faults, f64) {
        let mut state = self.state();
        let roll = state.fault_rng.next_f64();
        (state.faults, roll)
    }

    /// Paid invoices of `issuer`, by purchase time then id.
    pub(crate) fn invoices_of(&self, issuer: &IssuerName) -> Vec<SimInvoice> {
        let mut list: Vec<SimInvoice> = self
            .state()
            .invoices
            .values()
            .filter(|e| &e.invoice.issuer == issuer && e.invoice.is_paid())
            .map(|e| e.invoice.clone())
            .collect();
        list.sort_by_key(|i| (i.purchase_time, i.id));
        list
    }
}

/// Parses `text` exactly and keeps it with two decimals (`5` → `5.00`); more decimals are refused.
fn exact_two_decimals(text: &str) -> Result<Amount, SimError> {
    let amount: Amount = text
        .trim()
        .parse()
        .map_err(|e: glase_shared::AmountError| SimError::InvalidAmount(e.to_string()))?;
    let mut d = amount.as_decimal();
    if d.scale() > 2 {
        return Err(SimError::InvalidAmount(format!(
            "{text:?} has more than two decimals"
        )));
    }
    d.rescale(2);
    d.to_string()
        .parse()
        .map_err(|e: glase_shared::AmountError| SimError::InvalidAmount(e.to_string()))
}

fn check_url(url: &str) -> Result<(), SimError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(SimError::InvalidNotifyUrl(url.to_owned())),
    }
}

/// A simulator being served. Dropping it (or [`RunningSim::shutdown`]) stops the server,
/// the notification loops and any hanging request.
pub struct RunningSim {
    addr: SocketAddr,
    sim: Sim,
    task: Option<JoinHandle<()>>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT` (the bound address).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle on the simulator behind the server.
    pub fn sim(&self) -> Sim {
        self.sim.clone()
    }

    /// Stops everything and waits for the server to finish.
    pub async fn shutdown(mut self) {
        self.sim.stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.sim.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_keep_two_decimals_exactly() {
        assert_eq!(exact_two_decimals("59.99").unwrap().to_string(), "59.99");
        assert_eq!(exact_two_decimals("5").unwrap().to_string(), "5.00");
        assert_eq!(exact_two_decimals("0.1").unwrap().to_string(), "0.10");
        assert_eq!(
            exact_two_decimals("12345678901234567.89")
                .unwrap()
                .to_string(),
            "12345678901234567.89"
        );
        assert!(exact_two_decimals("1.999").is_err());
        assert!(exact_two_decimals("-1.00").is_err());
        assert!(exact_two_decimals("1e3").is_err());
    }

    #[test]
    fn default_config_holds_three_unnotified_sample_invoices() {
        // Act
        let sim = Sim::new(SimConfig::default());

        // Assert
        let invoices = sim.invoices();
        assert_eq!(invoices.len(), 3);
        assert_eq!(invoices[0].id.get(), FIRST_INVOICE_ID);
        assert!(
            invoices
                .iter()
                .all(|i| sim.notification_status(i.id.get())
                    == Some(NotificationStatus::NotScheduled))
        );
        assert!(invoices.iter().all(|i| sim.notification_done(i.id.get())));
    }

    #[test]
    fn ers_references_look_like_glase_ones_and_follow_the_seed() {
        let a = Sim::new(SimConfig::default()).invoices();
        let b = Sim::new(SimConfig::default()).invoices();
        let (left, right) = a[0].ers_reference.split_once('-').unwrap();
        assert_eq!((left.len(), right.len()), (15, 7));
        assert!(left
            .bytes()
            .chain(right.bytes())
            .all(|c| c.is_ascii_digit()));
        assert_eq!(a[0].ers_reference, b[0].ers_reference);
        let other = Sim::new(SimConfig {
            seed: 1,
            ..SimConfig::default()
        })
        .invoices();
        assert_ne!(a[0].ers_reference, other[0].ers_reference);
    }

    #[test]
    fn invalid_configuration_is_refused() {
        let bad_scale = SimConfig {
            time_scale: -1.0,
            ..SimConfig::default()
        };
        assert!(matches!(
            Sim::try_new(bad_scale),
            Err(SimError::InvalidConfig(_))
        ));
        let no_issuers = SimConfig {
            issuers: vec![],
            initial_invoices: vec![],
            ..SimConfig::default()
        };
        assert!(matches!(
            Sim::try_new(no_issuers),
            Err(SimError::InvalidConfig(_))
        ));
        let bad_url = SimConfig {
            issuers: vec![crate::IssuerConfig::new("demo", "s").with_notify_url("not a url")],
            ..SimConfig::default()
        };
        assert!(matches!(
            Sim::try_new(bad_url),
            Err(SimError::InvalidNotifyUrl(_))
        ));
    }
}
