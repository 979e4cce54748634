// The Lucene side of `npm run bench:retrieval` (Debian liblucene8-java, Lucene 8.7, the engine under
// Pyserini): build and query a BM25 index the way Anserini/Pyserini do for wiki-18.
//   java -cp <lucene jars>:<dir> LuceneBench build <corpus.jsonl> <indexDir> <threads>
//   java -cp <lucene jars>:<dir> LuceneBench query <indexDir> <queries.json> <threads> <k> <minSeconds>
// Prints one JSON line. Analysis: EnglishAnalyzer; similarity: BM25Similarity(0.9, 0.4); index:
// id (stored string) + contents (stored text, as Pyserini's wiki-18 index stores the passages),
// force-merged to one segment; query: Anserini's bag of words (one SHOULD clause per distinct
// analysed term, boosted by its count). Compiled by bench/retrieval.ts with javac.
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.StringField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.BoostQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.search.similarities.BM25Similarity;
import org.apache.lucene.store.FSDirectory;

public class LuceneBench {
  public static void main(String[] args) throws Exception {
    if (args.length >= 4 && args[0].equals("build")) build(Paths.get(args[1]), Paths.get(args[2]), Integer.parseInt(args[3]));
    else if (args.length >= 6 && args[0].equals("query"))
      query(Paths.get(args[1]), Paths.get(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]), Double.parseDouble(args[5]));
    else {
      System.err.println("usage: LuceneBench build <corpus.jsonl> <indexDir> <threads> | query <indexDir> <queries.json> <threads> <k> <minSeconds>");
      System.exit(2);
    }
  }

  static void build(Path corpus, Path dir, int threads) throws Exception {
    long t0 = System.nanoTime();
    IndexWriterConfig cfg = new IndexWriterConfig(new EnglishAnalyzer());
    cfg.setSimilarity(new BM25Similarity(0.9f, 0.4f));
    cfg.setOpenMode(IndexWriterConfig.OpenMode.CREATE);
    cfg.setRAMBufferSizeMB(1024);
    cfg.setUseCompoundFile(false);
    try (FSDirectory fs = FSDirectory.open(dir); IndexWriter w = new IndexWriter(fs, cfg);
        BufferedReader r = Files.newBufferedReader(corpus, StandardCharsets.UTF_8)) {
      // Lines are handed to `threads` indexing threads in batches (Anserini indexes with a pool).
      final Object lock = new Object();
      final AtomicInteger count = new AtomicInteger();
      Thread[] pool = new Thread[threads];
      final Exception[] failure = new Exception[1];
      for (int i = 0; i < threads; i++) {
        pool[i] = new Thread(() -> {
          try {
            for (;;) {
              List<String> batch = new ArrayList<>(1000);
              synchronized (lock) {
                String line;
                while (batch.size() < 1000 && (line = r.readLine()) != null) if (!line.isEmpty()) batch.add(line);
              }
              if (batch.isEmpty()) return;
              for (String line : batch) {
                Map<String, String> rec = parseObject(line);
                Document d = new Document();
                d.add(new StringField("id", rec.get("id"), Field.Store.YES));
                d.add(new TextField("contents", rec.get("contents"), Field.Store.YES));
                w.addDocument(d);
              }
              count.addAndGet(batch.size());
            }
          } catch (Exception e) {
            synchronized (failure) { failure[0] = e; }
          }
        });
        pool[i].start();
      }
      for (Thread t : pool) t.join();
      if (failure[0] != null) throw failure[0];
      w.forceMerge(1);
      w.commit();
      double seconds = (System.nanoTime() - t0) / 1e9;
      long total = 0, stored = 0;
      try (Stream<Path> files = Files.list(dir)) {
        for (Path p : (Iterable<Path>) files::iterator) {
          long s = Files.size(p);
          total += s;
          String n = p.getFileName().toString();
          if (n.endsWith(".fdt") || n.endsWith(".fdx") || n.endsWith(".fdm")) stored += s;
        }
      }
      System.out.println("{\"seconds\":" + seconds + ",\"docs\":" + count.get() + ",\"bytes\":" + total + ",\"storedBytes\":" + stored + ",\"threads\":" + threads + "}");
    }
  }

  static List<String> analyze(Analyzer a, String text) throws IOException {
    List<String> out = new ArrayList<>();
    try (TokenStream ts = a.tokenStream("contents", text)) {
      CharTermAttribute term = ts.addAttribute(CharTermAttribute.class);
      ts.reset();
      while (ts.incrementToken()) out.add(term.toString());
      ts.end();
    }
    return out;
  }

  /** Anserini's BagOfWordsQueryGenerator: a SHOULD clause per distinct term, boosted by its count. */
  static Query bagOfWords(Analyzer a, String q) throws IOException {
    Map<String, Integer> counts = new LinkedHashMap<>();
    for (String t : analyze(a, q)) counts.merge(t, 1, Integer::sum);
    BooleanQuery.Builder b = new BooleanQuery.Builder();
    for (Map.Entry<String, Integer> e : counts.entrySet())
      b.add(new BoostQuery(new TermQuery(new Term("contents", e.getKey())), (float) e.getValue()), BooleanClause.Occur.SHOULD);
    return b.build();
  }

  static void query(Path dir, Path queriesPath, int threads, int k, double minSeconds) throws Exception {
    BooleanQuery.setMaxClauseCount(65536);
    List<String> queries = parseStringArray(new String(Files.readAllBytes(queriesPath), StandardCharsets.UTF_8));
    long t0 = System.nanoTime();
    try (FSDirectory fs = FSDirectory.open(dir); DirectoryReader reader = DirectoryReader.open(fs)) {
      IndexSearcher searcher = new IndexSearcher(reader);
      searcher.setSimilarity(new BM25Similarity(0.9f, 0.4f));
      double openSeconds = (System.nanoTime() - t0) / 1e9;
      Analyzer analyzer = new EnglishAnalyzer();
      String[] top1 = new String[queries.size()];
      // JIT warm-up: every query twice, with passage fetches.
      for (int rep = 0; rep < 2; rep++)
        for (int i = 0; i < queries.size(); i++) {
          TopDocs td = searcher.search(bagOfWords(analyzer, queries.get(i)), k);
          top1[i] = td.scoreDocs.length > 0 ? searcher.doc(td.scoreDocs[0].doc).get("id") : null;
        }
      double qps = timed(searcher, queries, threads, k, minSeconds, false);
      double qpsFetch = timed(searcher, queries, threads, k, minSeconds, true);
      StringBuilder sb = new StringBuilder();
      sb.append("{\"openSeconds\":").append(openSeconds).append(",\"qps\":").append(qps)
          .append(",\"qpsWithPassages\":").append(qpsFetch).append(",\"threads\":").append(threads).append(",\"top1\":[");
      for (int i = 0; i < top1.length; i++) {
        if (i > 0) sb.append(',');
        sb.append(top1[i] == null ? "null" : quote(top1[i]));
      }
      System.out.println(sb.append("]}"));
    }
  }

  /** Queries/s over `threads` threads, each looping over its share of the queries until minSeconds. */
  static double timed(IndexSearcher searcher, List<String> queries, int threads, int k, double minSeconds, boolean fetch) throws Exception {
    AtomicInteger done = new AtomicInteger();
    long t0 = System.nanoTime();
    Thread[] pool = new Thread[threads];
    for (int t = 0; t < threads; t++) {
      final int me = t;
      pool[t] = new Thread(() -> {
        Analyzer a = new EnglishAnalyzer();
        try {
          do {
            for (int i = me; i < queries.size(); i += threads) {
              TopDocs td = searcher.search(bagOfWords(a, queries.get(i)), k);
              if (fetch) for (ScoreDoc sd : td.scoreDocs) searcher.doc(sd.doc);
              done.incrementAndGet();
            }
          } while ((System.nanoTime() - t0) / 1e9 < minSeconds);
        } catch (IOException e) {
          throw new RuntimeException(e);
        }
      });
      pool[t].start();
    }
    for (Thread t : pool) t.join();
    return done.get() / ((System.nanoTime() - t0) / 1e9);
  }

  // Minimal JSON readers for the benchmark's own files: one flat object of string fields per
  // corpus line, one array of strings for the queries.
  static Map<String, String> parseObject(String s) {
    Map<String, String> out = new LinkedHashMap<>();
    int[] pos = {skip(s, 0)};
    expect(s, pos, '{');
    for (;;) {
      pos[0] = skip(s, pos[0]);
      if (s.charAt(pos[0]) == '}') break;
      String key = parseString(s, pos);
      pos[0] = skip(s, pos[0]);
      expect(s, pos, ':');
      pos[0] = skip(s, pos[0]);
      out.put(key, parseString(s, pos));
      pos[0] = skip(s, pos[0]);
      if (s.charAt(pos[0]) == ',') pos[0]++;
    }
    return out;
  }

  static List<String> parseStringArray(String s) {
    List<String> out = new ArrayList<>();
    int[] pos = {skip(s, 0)};
    expect(s, pos, '[');
    for (;;) {
      pos[0] = skip(s, pos[0]);
      if (s.charAt(pos[0]) == ']') break;
      out.add(parseString(s, pos));
      pos[0] = skip(s, pos[0]);
      if (s.charAt(pos[0]) == ',') pos[0]++;
    }
    return out;
  }

  static int skip(String s, int i) {
    while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
    return i;
  }

  static void expect(String s, int[] pos, char c) {
    if (s.charAt(pos[0]) != c) throw new IllegalArgumentException("expected '" + c + "' at " + pos[0]);
    pos[0]++;
  }

  static String parseString(String s, int[] pos) {
    expect(s, pos, '"');
    StringBuilder b = new StringBuilder();
    int i = pos[0];
    for (;;) {
      char c = s.charAt(i++);
      if (c == '"') break;
      if (c != '\\') {
        b.append(c);
        continue;
      }
      char e = s.charAt(i++);
      switch (e) {
        case 'n': b.append('\n'); break;
        case 't': b.append('\t'); break;
        case 'r': b.append('\r'); break;
        case 'b': b.append('\b'); break;
        case 'f': b.append('\f'); break;
        case 'u': b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
        default: b.append(e);
      }
    }
    pos[0] = i;
    return b.toString();
  }

  static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
