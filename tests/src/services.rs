//! One DynamoDB Local and one moto server per test binary. Each test makes its own table and
//! queues, so tests run in parallel without seeing each other's data.

use std::sync::OnceLock;

use glase_dev::services::{free_port, start_dynamodb_local, start_moto};

#[derive(Debug, Clone)]
pub struct Services {
    pub dynamodb_endpoint: String,
    pub sqs_endpoint: String,
}

static SERVICES: OnceLock<Services> = OnceLock::new();

/// Starts the servers on first use. They are children of a thread that lives as long as the
/// test process, so `PR_SET_PDEATHSIG` stops them when the process ends, pass or fail.
pub fn services() -> &'static Services {
    SERVICES.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("local-services".into())
            .spawn(move || {
                let started = (|| -> Result<_, String> {
                    let ddb = start_dynamodb_local(free_port().map_err(|e| e.to_string())?, true)
                        .map_err(|e| e.to_string())?;
                    let moto = start_moto(free_port().map_err(|e| e.to_string())?, true)
                        .map_err(|e| e.to_string())?;
                    Ok((ddb, moto))
                })();
                match started {
                    Ok((ddb, moto)) => {
                        let _ = tx.send(Ok(Services {
                            dynamodb_endpoint: ddb.endpoint(),
                            sqs_endpoint: moto.endpoint(),
                        }));
                        // Keep the processes (and this thread, their death-signal parent) alive.
                        loop {
                            std::thread::park();
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
            .expect("spawn the local-services thread");
        match rx.recv() {
            Ok(Ok(services)) => services,
            Ok(Err(e)) => panic!("local services failed to start: {e}"),
            Err(_) => panic!("local services thread died"),
        }
    })
}

/// A name unique to this test run, for tables and queues.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}
