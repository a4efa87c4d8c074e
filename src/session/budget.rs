//! The node's resource budget: CPU cores, memory and hardware encoder slots
//! per GPU. A session reserves its share before anything starts and gives it
//! back when its reservation drops, so a failure path cannot leak capacity.

use std::sync::{Arc, Mutex};

use crate::sync::Locked;
use serde::Serialize;

/// Whether the encoder `element` runs on a GPU and takes one of its encoder
/// slots, as its record in the encoder table says.
pub fn is_hardware_encoder(element: &str) -> bool {
    crate::media::encoders::record(element).is_some_and(|r| r.hardware)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Need {
    pub cpu_cores: u32,
    pub memory_mb: u64,
    pub encoder_slot: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this node has no room: {0}")]
pub struct NoRoom(pub String);

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Usage {
    pub cpu_cores: u32,
    pub memory_mb: u64,
    /// Used slots per GPU.
    pub gpu_slots: Vec<u32>,
}

/// Totals and what is reserved now.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetView {
    pub total: Usage,
    pub used: Usage,
}

#[derive(Clone)]
pub struct Budget {
    total: Usage,
    used: Arc<Mutex<Usage>>,
}

impl Budget {
    pub fn new(cpu_cores: u32, memory_mb: u64, gpu_slots: Vec<u32>) -> Self {
        let used = Usage { gpu_slots: vec![0; gpu_slots.len()], ..Usage::default() };
        Self { total: Usage { cpu_cores, memory_mb, gpu_slots }, used: Arc::new(Mutex::new(used)) }
    }

    /// The configured budget, with 0 meaning what this machine has.
    pub fn from_config(node: &crate::config::NodeConfig) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let cpu = if node.cpu_cores == 0 { cpus } else { node.cpu_cores };
        let mem = if node.memory_mb == 0 { machine_memory_mb() } else { node.memory_mb };
        Self::new(cpu, mem, node.gpu_encoder_slots.clone())
    }

    /// Reserves `need` or says what is short. The least loaded GPU gives the slot.
    pub fn reserve(&self, need: Need) -> Result<Reservation, NoRoom> {
        let mut used = self.used.locked();
        if used.cpu_cores + need.cpu_cores > self.total.cpu_cores {
            return Err(NoRoom(format!(
                "{} of {} CPU cores are reserved and this session needs {}",
                used.cpu_cores, self.total.cpu_cores, need.cpu_cores
            )));
        }
        if used.memory_mb + need.memory_mb > self.total.memory_mb {
            return Err(NoRoom(format!(
                "{} of {} MiB of memory are reserved and this session needs {}",
                used.memory_mb, self.total.memory_mb, need.memory_mb
            )));
        }
        // No GPUs declared: encoder slots are not accounted.
        let gpu = if need.encoder_slot && !self.total.gpu_slots.is_empty() {
            let free = (0..self.total.gpu_slots.len())
                .filter(|&i| used.gpu_slots[i] < self.total.gpu_slots[i])
                .min_by_key(|&i| used.gpu_slots[i]);
            match free {
                Some(i) => Some(i),
                None => return Err(NoRoom("every GPU encoder slot is taken".into())),
            }
        } else {
            None
        };
        used.cpu_cores += need.cpu_cores;
        used.memory_mb += need.memory_mb;
        if let Some(i) = gpu {
            used.gpu_slots[i] += 1;
        }
        Ok(Reservation { need, gpu, used: self.used.clone() })
    }

    pub fn view(&self) -> BudgetView {
        BudgetView { total: self.total.clone(), used: self.used.locked().clone() }
    }
}

/// Held while a session runs; dropping it frees the share.
#[derive(Debug)]
pub struct Reservation {
    need: Need,
    gpu: Option<usize>,
    used: Arc<Mutex<Usage>>,
}

impl Reservation {
    pub fn gpu(&self) -> Option<usize> {
        self.gpu
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut used = self.used.locked();
        used.cpu_cores -= self.need.cpu_cores;
        used.memory_mb -= self.need.memory_mb;
        if let Some(i) = self.gpu {
            used.gpu_slots[i] -= 1;
        }
    }
}

fn machine_memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(1024, |kb| kb / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPU: Need = Need { cpu_cores: 1, memory_mb: 100, encoder_slot: false };
    const GPU: Need = Need { cpu_cores: 1, memory_mb: 100, encoder_slot: true };

    #[test]
    fn reserves_until_full_and_frees_on_drop() {
        let b = Budget::new(2, 1000, vec![]);
        let a = b.reserve(CPU).unwrap();
        let c = b.reserve(CPU).unwrap();
        let e = b.reserve(CPU).unwrap_err();
        assert!(e.0.contains("2 of 2 CPU cores"), "{e}");
        drop(a);
        let _d = b.reserve(CPU).unwrap();
        drop(c);
        assert_eq!(b.view().used.cpu_cores, 1);
        assert!(b.reserve(Need { cpu_cores: 1, memory_mb: 901, encoder_slot: false }).unwrap_err().0.contains("MiB"));
    }

    #[test]
    fn encoder_slots_go_to_the_least_loaded_gpu() {
        let b = Budget::new(16, 16000, vec![2, 2]);
        let r: Vec<_> = (0..4).map(|_| b.reserve(GPU).unwrap()).collect();
        let mut gpus: Vec<_> = r.iter().map(|r| r.gpu().unwrap()).collect();
        gpus.sort();
        assert_eq!(gpus, [0, 0, 1, 1]);
        assert!(b.reserve(GPU).unwrap_err().0.contains("GPU"));
        assert!(b.reserve(CPU).is_ok(), "software encoding needs no slot");
        let undeclared = Budget::new(4, 4000, vec![]).reserve(GPU).expect("no GPUs declared: slots not accounted");
        assert_eq!(undeclared.gpu(), None);
    }
}
