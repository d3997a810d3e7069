//! (Reader under construction: this format is refused with a clear error until it lands.)

use crate::Stats;
use crate::detect::{Context, FileReader};
use crate::error::FlowError;
use crate::json::JsonRecords;
use crate::record::Entry;

pub(crate) struct AzureReader {
    ctx: Context,
}

impl AzureReader {
    pub(crate) fn new(_records: JsonRecords, ctx: Context) -> AzureReader {
        AzureReader { ctx }
    }
}

impl FileReader for AzureReader {
    fn next_entry(&mut self, _: &mut Stats) -> Result<Option<Entry>, FlowError> {
        Err(FlowError::format(
            &self.ctx.file,
            0,
            "this flow-log format is not readable yet",
        ))
    }
}
