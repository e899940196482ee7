package io.connaudit.esshim;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.email.UAX29URLEmailTokenizer;
import org.apache.lucene.analysis.pattern.PatternCaptureGroupTokenFilter;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.analysis.tokenattributes.PositionIncrementAttribute;
import org.elasticsearch.index.analysis.AbstractTokenFilterFactory;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

/**
 * Why this exists: the integ-test-zip leaves out the analysis-common module,
 * but x-pack security's own system index (.security-7) declares an "email"
 * analyzer built from the uax_url_email tokenizer and the pattern_capture and
 * unique filters. Without them the security index cannot be created, so API
 * keys (and native users) fail with "Unknown filter type [pattern_capture]".
 * analysis-common is not published on Maven Central, so connaudit provides
 * exactly these three components, built on the Lucene classes that already
 * ship in the distribution's lib/. See services/ES_CAPABILITIES.md.
 */
public final class AnalysisShimPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of("uax_url_email",
            (indexSettings, env, name, settings) -> TokenizerFactory.newFactory(name, UAX29URLEmailTokenizer::new));
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of(
            "pattern_capture", AnalysisPlugin.requiresAnalysisSettings(AnalysisShimPlugin::patternCapture),
            "unique", AnalysisShimPlugin::unique);
    }

    private static TokenFilterFactory patternCapture(Object indexSettings, Object env, String name,
            org.elasticsearch.common.settings.Settings settings) {
        List<String> regexes = settings.getAsList("patterns");
        if (regexes.isEmpty()) {
            throw new IllegalArgumentException("pattern_capture filter [" + name + "] needs a non-empty [patterns] list");
        }
        Pattern[] patterns = regexes.stream().map(Pattern::compile).toArray(Pattern[]::new);
        boolean preserveOriginal = settings.getAsBoolean("preserve_original", true);
        return new AbstractTokenFilterFactory(name, settings) {
            @Override
            public TokenStream create(TokenStream in) {
                return new PatternCaptureGroupTokenFilter(in, preserveOriginal, patterns);
            }
        };
    }

    private static TokenFilterFactory unique(Object indexSettings, Object env, String name,
            org.elasticsearch.common.settings.Settings settings) {
        boolean onlySamePosition = settings.getAsBoolean("only_on_same_position", false);
        return new AbstractTokenFilterFactory(name, settings) {
            @Override
            public TokenStream create(TokenStream in) {
                return new UniqueFilter(in, onlySamePosition);
            }
        };
    }

    /** Drops a token whose text was already seen (in the stream, or at the same position when onlySamePosition). */
    static final class UniqueFilter extends TokenFilter {
        private final CharTermAttribute term = addAttribute(CharTermAttribute.class);
        private final PositionIncrementAttribute posInc = addAttribute(PositionIncrementAttribute.class);
        private final CharArraySet seen = new CharArraySet(16, false);
        private final boolean onlySamePosition;

        UniqueFilter(TokenStream in, boolean onlySamePosition) {
            super(in);
            this.onlySamePosition = onlySamePosition;
        }

        @Override
        public boolean incrementToken() throws IOException {
            while (input.incrementToken()) {
                if (onlySamePosition && posInc.getPositionIncrement() > 0) seen.clear();
                char[] buf = term.buffer();
                int len = term.length();
                if (seen.contains(buf, 0, len)) continue;
                char[] copy = new char[len];
                System.arraycopy(buf, 0, copy, 0, len);
                seen.add(copy);
                return true;
            }
            return false;
        }

        @Override
        public void reset() throws IOException {
            super.reset();
            seen.clear();
        }
    }
}
