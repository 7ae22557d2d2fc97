/** The error-analysis report of a run (`webscale-rl report`): what other folders use. */
export { ReportBuilder, type Report, type ReportOptions, type ReportSource, type RunSummaryJson } from './model.js';
export { formatReportText } from './text.js';
export { escapeHtml, renderReportHtml } from './html.js';
export { costOf, loadPrices, type Prices } from './prices.js';
export { findRunFolderFiles, isDirectory, readRunFolder, readTopics } from './sources.js';
