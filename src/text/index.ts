/** Text rules that must hold in every script: word segmentation, language identification, punctuation. */
export { countWords, hasNoSpaceScript, wordList, wordsOf, type Word } from './words.js';
export { detectLanguage, primaryLanguage, LANGUAGE_SAMPLE_CHARS, type DetectedLanguage } from './language.js';
export { endsWithTerminalPunctuation, hasQuestionMark, QUESTION_MARKS, TERMINAL_PUNCTUATION } from './punctuation.js';
