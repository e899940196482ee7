// The namespace lab lives in lib/ because `connaudit demo` uses it too.
export * from '../../lib/netns.js';
