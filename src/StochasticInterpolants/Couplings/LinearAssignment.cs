using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace StochasticInterpolants.Couplings;

/// <summary>What one exact assignment solve did (for benchmarks and logs).</summary>
/// <param name="Size">n.</param>
/// <param name="CandidatesPerRow">Columns first kept per row (the smallest reduced costs under the starting prices).</param>
/// <param name="InitiallyMatched">Rows matched to their best column before any augmenting path.</param>
/// <param name="Augmentations">Shortest augmenting paths found.</param>
/// <param name="ScannedColumns">Columns settled by all the Dijkstra searches together.</param>
/// <param name="VerificationRounds">Full passes over the matrix that checked the duals (the last one found no violation).</param>
/// <param name="AddedEdges">Edges added to the sparse graph because a full pass found them violated (or a search ran dry).</param>
/// <param name="Phases">Milliseconds per phase: graph building, auction, row reduction, augmenting paths, full verification passes.</param>
/// <param name="Threads">Threads of the full passes.</param>
public sealed record AssignmentStatistics(int Size, int CandidatesPerRow, int InitiallyMatched, int Augmentations, long ScannedColumns,
    int VerificationRounds, long AddedEdges, AssignmentPhases Phases, int Threads = 1);

/// <summary>Where an assignment solve spent its time, in milliseconds.</summary>
/// <param name="Graph">Full passes building each row's cheapest columns (and the starting column minima when cold).</param>
/// <param name="Auction">The epsilon-scaling auction on the graph.</param>
/// <param name="Reduction">Initial matching and augmenting row reduction.</param>
/// <param name="Paths">Shortest augmenting paths (including rows freed by later passes).</param>
/// <param name="Verification">Full passes checking the duals.</param>
public sealed record AssignmentPhases(double Graph, double Auction, double Reduction, double Paths, double Verification);

/// <summary>An optimal assignment with the dual potentials that certify it.</summary>
/// <param name="ColumnOfRow">p(i): the column assigned to row i.</param>
/// <param name="RowOfColumn">p^-1(j): the row assigned to column j.</param>
/// <param name="RowPotentials">u_i.</param>
/// <param name="ColumnPotentials">v_j, with c_ij - u_i - v_j &gt;= 0 for every (i, j) and = 0 on the assignment.</param>
/// <param name="Cost">sum_i c_{i p(i)}, accumulated in float64.</param>
/// <param name="Statistics">What the solve did.</param>
public sealed record AssignmentResult(int[] ColumnOfRow, int[] RowOfColumn, double[] RowPotentials, double[] ColumnPotentials, double Cost,
    AssignmentStatistics Statistics);

/// <summary>
/// Exact solver of the linear assignment problem min over permutations p of sum_i c_{i p(i)} for a dense n x n float32 cost
/// matrix (docs/theory.md §12.1). Shortest augmenting paths (Dijkstra on reduced costs c_ij - u_i - v_j, as in the
/// Hungarian and Jonker-Volgenant methods) run on a <em>sparse</em> graph: each row's few columns of smallest reduced cost
/// under the starting column prices v. A full pass over the matrix then checks dual feasibility c_ij - u_i - v_j &gt;= -tol
/// everywhere; violated edges are added and their rows re-augmented, until a pass finds none. LP duality then certifies the
/// assignment optimal for the whole matrix (complementary slackness holds on every assigned edge), so the result is exact
/// whatever the sparse graph or starting prices were; good prices (from the previous minibatch) only make it fast.
/// The matrix is read where it lies (native tensor memory or a managed array), never copied.
/// </summary>
public static unsafe class LinearAssignment
{
    /// <summary>Columns first kept per row when not given: n / 16 within [64, 128] (measured on the checkerboard: with 16 per
    /// row at n = 256 and 64 at n = 4096 the auction and the row reduction left hundreds of rows to augmenting paths, with
    /// 64 and 128 a handful; 128 at n = 1024 made the full passes and the auction dearer than 64).</summary>
    /// <remarks>From 64 columns per row down, that is every column: the graph is dense (no selection, no auction, Dijkstra
    /// with labels in an array). Measured, dense solves at n = 256 and 512 were slower than sparse ones with the auction
    /// (17 vs 10 ms and 72 vs 28 ms warm on the checkerboard): the auction's cheap bids beat long augmenting paths.</remarks>
    public static int DefaultCandidates(int n) => Math.Clamp(n / 16, 64, 128);

    /// <summary>Solves the assignment for the row-major n x n matrix <paramref name="cost"/>; see <see cref="Solve(float*, int, double[], int, int)"/>.</summary>
    public static AssignmentResult Solve(ReadOnlySpan<float> cost, int n, double[]? columnPrices = null, int candidates = 0, int threads = 0)
    {
        if (cost.Length != (long)n * n) throw new ArgumentException($"an n x n cost matrix needs {(long)n * n} entries for n = {n}, got {cost.Length}");
        fixed (float* c = cost) return Solve(c, n, columnPrices, candidates, threads);
    }

    /// <summary>
    /// Solves the assignment for the row-major n x n matrix at <paramref name="cost"/> (finite entries). <paramref name="columnPrices"/>
    /// are starting column potentials v (null: the column minima, v_j = min_i c_ij); <paramref name="candidates"/> columns
    /// per row start the sparse graph (0: <see cref="DefaultCandidates"/>); full passes over the matrix use <paramref name="threads"/> threads (0: all cores).
    /// </summary>
    public static AssignmentResult Solve(float* cost, int n, double[]? columnPrices = null, int candidates = 0, int threads = 0)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, "an assignment needs n >= 1");
        if (columnPrices is not null && columnPrices.Length != n) throw new ArgumentException($"{columnPrices.Length} column prices for n = {n}");
        var solver = new Solver(cost, n, Math.Clamp(candidates > 0 ? candidates : DefaultCandidates(n), 1, n), threads <= 0 ? Environment.ProcessorCount : threads);
        return solver.Run(columnPrices);
    }

    /// <summary>
    /// The c-transform over columns: u_i = min_j (c_ij - v_j) for the row-major <paramref name="rows"/> x
    /// <paramref name="columns"/> matrix at <paramref name="cost"/>, in float64.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double[] RowTransform(float* cost, int rows, int columns, double[] columnPotentials, int threads = 0)
    {
        var u = new double[rows];
        var c = cost;
        Parallel.For(0, rows, new ParallelOptions { MaxDegreeOfParallelism = threads <= 0 ? Environment.ProcessorCount : threads }, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            var row = new ReadOnlySpan<float>(c + (long)i * columns, columns);
            var min = double.PositiveInfinity;
            for (var j = 0; j < columns; j++) min = Math.Min(min, row[j] - columnPotentials[j]);
            u[i] = min;
        });
        return u;
    }

    /// <summary>
    /// The c-transform over rows: v_j = min_i (c_ij - u_i) for the row-major <paramref name="rows"/> x
    /// <paramref name="columns"/> matrix at <paramref name="cost"/> (a running minimum, so the matrix is read row by row).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double[] ColumnTransform(float* cost, int rows, int columns, double[] rowPotentials, int threads = 0)
    {
        var parts = Math.Max(1, Math.Min(threads <= 0 ? Environment.ProcessorCount : threads, rows));
        var partial = new double[parts][];
        var c = cost;
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (t) =>
        {
            var min = new double[columns];
            Array.Fill(min, double.PositiveInfinity);
            for (var i = (int)((long)rows * t / parts); i < (int)((long)rows * (t + 1) / parts); i++)
            {
                var row = new ReadOnlySpan<float>(c + (long)i * columns, columns);
                var ui = rowPotentials[i];
                for (var j = 0; j < columns; j++)
                {
                    var r = row[j] - ui;
                    if (r < min[j]) min[j] = r;
                }
            }
            partial[t] = min;
        });
        var v = partial[0];
        for (var t = 1; t < parts; t++)
            for (var j = 0; j < columns; j++) v[j] = Math.Min(v[j], partial[t][j]);
        return v;
    }

    /// <summary>sum_i c_{i p(i)} in float64 for the assignment <paramref name="columnOfRow"/>.</summary>
    public static double CostOf(ReadOnlySpan<float> cost, int n, IReadOnlyList<int> columnOfRow)
    {
        var total = 0.0;
        for (var i = 0; i < n; i++) total += cost[i * n + columnOfRow[i]];
        return total;
    }

    private sealed class Solver
    {
        private readonly float* _c;
        private readonly int _n, _k, _threads;
        private readonly double[] _u, _v;
        private readonly int[] _colOfRow, _rowOfCol;
        // The sparse graph: per row, its columns (growable).
        private readonly int[][] _adj;
        private readonly int[] _deg;
        // Dijkstra state, reset through the touched list.
        private readonly double[] _dist;
        private readonly int[] _pred;
        private readonly byte[] _state; // 0 untouched, 1 labelled, 2 settled
        private readonly List<int> _touched = [], _settled = [];
        private readonly PriorityQueue<int, double> _heap = new();
        private int _augmentations, _rounds, _initial;
        private long _scanned, _added;
        private readonly double _tolerance, _scale;
        private readonly int[] _mark;
        private int _stamp;

        public Solver(float* cost, int n, int k, int threads)
        {
            _c = cost; _n = n; _k = k; _threads = Math.Max(1, Math.Min(threads, n));
            _u = new double[n]; _v = new double[n];
            _colOfRow = new int[n]; _rowOfCol = new int[n];
            _adj = new int[n][]; _deg = new int[n];
            _dist = new double[n]; _pred = new int[n]; _state = new byte[n]; _mark = new int[n];
            var scale = 0.0;
            for (var i = 0; i < n; i += Math.Max(1, n / 64))
                for (var j = 0; j < n; j += Math.Max(1, n / 64)) scale = Math.Max(scale, Math.Abs((double)cost[(long)i * n + j]));
            // Rounding in the float64 duals is ~1e-16 of the costs per update; 1e-10 of the scale leaves a wide margin and
            // still certifies the cost to ~n 1e-10 relative, far below the float32 resolution of the costs themselves.
            _tolerance = 1e-10 * (1 + scale);
            _scale = scale;
        }

        private double C(int i, int j) => _c[(long)i * _n + j];

        public AssignmentResult Run(double[]? prices)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            double graph = 0, auction = 0, reduction = 0, paths = 0, verification = 0;
            double Lap() { var t = clock.Elapsed.TotalMilliseconds; clock.Restart(); return t; }
            if (prices is not null) Array.Copy(prices, _v, _n);
            else Array.Copy(ColumnTransform(_c, _n, _n, new double[_n], _threads), _v, _n); // the column minima v_j = min_i c_ij
            BuildCandidates();
            graph += Lap();
            // Prices first: an epsilon-scaling auction on the sparse graph moves them close to their optimum with cheap bids,
            // and the graph is rebuilt around the moved prices; cold prices take a second round. Only the prices are kept:
            // exactness comes from the augmenting paths and the full passes below.
            for (var round = 0; round < (_k >= _n ? 0 : prices is null ? 2 : 1); round++) // a dense graph needs no re-centring
            {
                Auction();
                auction += Lap();
                BuildCandidates();
                graph += Lap();
            }
            Array.Fill(_colOfRow, -1); Array.Fill(_rowOfCol, -1);
            var free = new Stack<int>();
            // Each row's best candidate is tight (u_i = min_j c_ij - v_j); take it when the column is still free.
            for (var i = _n - 1; i >= 0; i--)
            {
                var best = -1;
                var bestValue = double.PositiveInfinity;
                var row = _adj[i];
                for (var e = 0; e < _deg[i]; e++)
                {
                    var j = row[e];
                    var r = C(i, j) - _v[j];
                    if (r < bestValue) { bestValue = r; best = j; }
                }
                if (_rowOfCol[best] < 0) { _rowOfCol[best] = i; _colOfRow[i] = best; _initial++; }
                else free.Push(i);
            }
            ReduceRows(free);
            reduction += Lap();
            while (true)
            {
                while (free.Count > 0) Augment(free.Pop(), free);
                paths += Lap();
                _rounds++;
                var violated = Verify(free, refresh: _rounds == 1);
                verification += Lap();
                if (!violated && free.Count == 0) break;
            }
            var cost = 0.0;
            for (var i = 0; i < _n; i++)
            {
                var value = C(i, _colOfRow[i]);
                if (!double.IsFinite(value)) throw new ArgumentException($"the cost matrix has a non-finite entry at ({i}, {_colOfRow[i]})");
                cost += value;
            }
            return new AssignmentResult(_colOfRow, _rowOfCol, _u, _v, cost,
                new AssignmentStatistics(_n, _k, _initial, _augmentations, _scanned, _rounds, _added,
                    new AssignmentPhases(graph, auction, reduction, paths, verification), _threads));
        }

        private (int Lo, int Hi) Range(int part) => ((int)((long)_n * part / _threads), (int)((long)_n * (part + 1) / _threads));

        // Per row, the k columns of smallest reduced cost c_ij - v_j (screened in float32, which only chooses the graph),
        // and u_i = the least of them in float64: feasible on the graph, tight on each row's best edge.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void BuildCandidates()
        {
            var vf = Array.ConvertAll(_v, x => (float)x);
            Parallel.For(0, _threads, new ParallelOptions { MaxDegreeOfParallelism = _threads }, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (t) =>
            {
                var (lo, hi) = Range(t);
                var best = new Smallest(_k);
                for (var i = lo; i < hi; i++)
                {
                    if (_k >= _n)
                    {
                        // Dense: every column, no selection.
                        var all = _adj[i] is { Length: var len } existing && len >= _n ? existing : new int[_n];
                        var row = new ReadOnlySpan<float>(_c + (long)i * _n, _n);
                        var min = double.PositiveInfinity;
                        for (var j = 0; j < _n; j++) { all[j] = j; min = Math.Min(min, row[j] - _v[j]); }
                        _adj[i] = all; _deg[i] = _n; _u[i] = min;
                        continue;
                    }
                    best.Clear();
                    best.Scan(new ReadOnlySpan<float>(_c + (long)i * _n, _n), vf);
                    var list = new int[Math.Max(4, _k * 2)];
                    Array.Copy(best.Index, list, best.Count);
                    _adj[i] = list; _deg[i] = best.Count;
                    var u = double.PositiveInfinity;
                    for (var e = 0; e < best.Count; e++) u = Math.Min(u, C(i, list[e]) - _v[list[e]]);
                    _u[i] = u;
                }
            });
        }

        // One shortest augmenting path from the free row s (Dijkstra over columns on reduced costs), then the dual update
        // that keeps every graph edge feasible and every assigned edge tight, then the flip of the path.
        private void Augment(int s, Stack<int> free)
        {
            while (true)
            {
                var end = Search(s);
                if (end >= 0) { Finish(s, end); return; }
                // The graph reached from s has too few columns (no perfect matching in it): every reached row gets its next
                // cheapest columns under the current prices. Edges that come in violated lower u_i and free the row again.
                var reached = new List<int> { s };
                foreach (var j in _settled) reached.Add(_rowOfCol[j]);
                Reset();
                foreach (var i in reached)
                    if (AddEdges(i, NextCheapest(i, Math.Max(_k, _deg[i]))) && i != s) free.Push(i);
            }
        }

        // The `count` columns of smallest reduced cost c_ij - v_j not yet in row i's graph (one scan of the row).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private int[] NextCheapest(int i, int count)
        {
            var stamp = ++_stamp;
            for (var e = 0; e < _deg[i]; e++) _mark[_adj[i][e]] = stamp;
            count = Math.Min(count, _n - _deg[i]);
            if (count <= 0) return [];
            // Screened in float32 like the graph itself: the choice only decides which edges join, never the result.
            var best = new Smallest(count);
            var row = new ReadOnlySpan<float>(_c + (long)i * _n, _n);
            for (var j = 0; j < _n; j++)
                if (_mark[j] != stamp) best.Offer(j, (float)(row[j] - _v[j]));
            return best.Index[..best.Count];
        }

        // Forward auction with epsilon scaling on the graph (Bertsekas): a free row bids for its best column j1 (least
        // c_ij - v_j = w1), lowering v_j1 by (w2 - w1) + eps where w2 is its second best, and takes it from its owner.
        // Each phase restarts the assignment and keeps the prices; eps shrinks by 4 each phase. Bids are capped per phase
        // (a graph without a perfect matching would bid forever); the prices are useful wherever it stopped.
        private void Auction()
        {
            var spreads = new List<double>(_n);
            for (var i = 0; i < _n; i += Math.Max(1, _n / 256))
            {
                double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
                for (var e = 0; e < _deg[i]; e++) { var r = C(i, _adj[i][e]) - _v[_adj[i][e]]; lo = Math.Min(lo, r); hi = Math.Max(hi, r); }
                spreads.Add(hi - lo);
            }
            spreads.Sort();
            var eps = spreads[spreads.Count / 2] / 4;
            if (!(eps > 0)) return;
            var owner = new int[_n];
            var queue = new Queue<int>(_n);
            for (var phase = 0; phase < 4; phase++, eps /= 4)
            {
                Array.Fill(owner, -1);
                queue.Clear();
                for (var i = 0; i < _n; i++) queue.Enqueue(i);
                var bids = 0L;
                var cap = 16L * _n;
                while (queue.Count > 0 && bids++ < cap)
                {
                    var i = queue.Dequeue();
                    var row = _adj[i];
                    int j1 = -1;
                    double w1 = double.PositiveInfinity, w2 = double.PositiveInfinity;
                    for (var e = 0; e < _deg[i]; e++)
                    {
                        var j = row[e];
                        var w = C(i, j) - _v[j];
                        if (w < w1) { w2 = w1; w1 = w; j1 = j; }
                        else if (w < w2) w2 = w;
                    }
                    var raise = (double.IsFinite(w2) ? w2 - w1 : 0) + eps;
                    _v[j1] -= raise;
                    if (owner[j1] >= 0) queue.Enqueue(owner[j1]);
                    owner[j1] = i;
                }
            }
        }

        // Augmenting row reduction (an auction round at zero increment, as in Jonker-Volgenant): a free row takes its best
        // column j at u_i = its second-best reduced cost, lowering v_j so that edge is tight and evicting j's row. Every
        // other edge of row i stays feasible (second best <= them), other rows' edges to j only gain reduced cost, and the
        // evicted row's edges are untouched: the duals stay feasible while cheap bids match most rows. Bounded, since
        // ties can make rows trade a column back and forth.
        private void ReduceRows(Stack<int> free)
        {
            var bids = 0L;
            var limit = 4L * _n;
            var pending = new Queue<int>(free);
            free.Clear();
            while (pending.Count > 0)
            {
                var i = pending.Dequeue();
                if (bids++ >= limit) { free.Push(i); continue; }
                var row = _adj[i];
                int j1 = -1, j2 = -1;
                double r1 = double.PositiveInfinity, r2 = double.PositiveInfinity;
                for (var e = 0; e < _deg[i]; e++)
                {
                    var j = row[e];
                    var r = C(i, j) - _v[j];
                    if (r < r1) { r2 = r1; j2 = j1; r1 = r; j1 = j; }
                    else if (r < r2) { r2 = r; j2 = j; }
                }
                if (j2 < 0) { free.Push(i); continue; } // one column only: leave it to the augmenting paths
                var owner = _rowOfCol[j1];
                if (r1 < r2)
                {
                    _v[j1] -= r2 - r1;
                    _u[i] = r2;
                }
                else
                {
                    // A tie: a free second-best column is taken instead (no eviction); otherwise the bid evicts at no gain.
                    if (_rowOfCol[j2] < 0) { j1 = j2; owner = -1; }
                    _u[i] = r1;
                }
                _rowOfCol[j1] = i; _colOfRow[i] = j1;
                if (owner >= 0)
                {
                    _colOfRow[owner] = -1;
                    pending.Enqueue(owner);
                }
            }
        }

        private int Search(int s)
        {
            if (_k >= _n) return SearchDense(s);
            var us = _u[s];
            var row = _adj[s];
            for (var e = 0; e < _deg[s]; e++)
            {
                var j = row[e];
                Relax(j, C(s, j) - us - _v[j], s);
            }
            while (_heap.TryDequeue(out var j, out var d))
            {
                if (_state[j] == 2 || d > _dist[j]) continue; // stale entry
                _state[j] = 2; _settled.Add(j); _scanned++;
                var i = _rowOfCol[j];
                if (i < 0) return j;
                var ui = _u[i];
                var adj = _adj[i];
                for (var e = 0; e < _deg[i]; e++)
                {
                    var k = adj[e];
                    if (_state[k] == 2) continue;
                    Relax(k, d + C(i, k) - ui - _v[k], i);
                }
            }
            return -1;
        }

        // Dijkstra on the full matrix with labels in an array (no heap): each settled column costs two scans of n, cheaper
        // than n heap pushes per expanded row when every column is an edge.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private int SearchDense(int s)
        {
            var us = _u[s];
            var row = new ReadOnlySpan<float>(_c + (long)s * _n, _n);
            for (var j = 0; j < _n; j++)
            {
                _dist[j] = row[j] - us - _v[j]; _pred[j] = s; _state[j] = 1; _touched.Add(j);
            }
            while (true)
            {
                var best = -1;
                var d = double.PositiveInfinity;
                for (var j = 0; j < _n; j++)
                    if (_state[j] == 1 && _dist[j] < d) { d = _dist[j]; best = j; }
                if (best < 0) return -1;
                _state[best] = 2; _settled.Add(best); _scanned++;
                var i = _rowOfCol[best];
                if (i < 0) return best;
                var ui = _u[i];
                var next = new ReadOnlySpan<float>(_c + (long)i * _n, _n);
                for (var k = 0; k < _n; k++)
                {
                    if (_state[k] == 2) continue;
                    var nd = d + next[k] - ui - _v[k];
                    if (nd < _dist[k]) { _dist[k] = nd; _pred[k] = i; }
                }
            }
        }

        private void Relax(int j, double d, int from)
        {
            if (_state[j] == 0) { _state[j] = 1; _touched.Add(j); _dist[j] = d; _pred[j] = from; _heap.Enqueue(j, d); }
            else if (d < _dist[j]) { _dist[j] = d; _pred[j] = from; _heap.Enqueue(j, d); }
        }

        private void Finish(int s, int end)
        {
            var total = _dist[end];
            // Settled columns k (dist_k <= D) lose D - dist_k; the row assigned to k gains it; the source gains D.
            foreach (var k in _settled)
            {
                var delta = total - _dist[k];
                if (delta == 0) continue;
                _v[k] -= delta;
                var i = _rowOfCol[k];
                if (i >= 0) _u[i] += delta;
            }
            _u[s] += total;
            var j = end;
            while (true)
            {
                var i = _pred[j];
                var next = _colOfRow[i];
                _colOfRow[i] = j; _rowOfCol[j] = i;
                if (i == s) break;
                j = next;
            }
            _augmentations++;
            Reset();
        }

        private void Reset()
        {
            foreach (var j in _touched) _state[j] = 0;
            _touched.Clear(); _settled.Clear(); _heap.Clear();
        }

        // Adds columns to row i's graph; returns true when the row had to give up its assignment (an added edge had a
        // negative reduced cost, so u_i was lowered to keep the duals feasible and its assigned edge is no longer tight).
        private bool AddEdges(int i, IReadOnlyList<int> columns)
        {
            // Columns already in the row are marked with a fresh stamp (no set allocated per row: this runs for every row
            // on the refreshing pass).
            var stamp = ++_stamp;
            var adj = _adj[i];
            for (var e = 0; e < _deg[i]; e++) _mark[adj[e]] = stamp;
            var lowest = _u[i];
            foreach (var j in columns)
            {
                if (_mark[j] == stamp) continue;
                _mark[j] = stamp;
                if (_deg[i] == _adj[i].Length) Array.Resize(ref _adj[i], Math.Min(_n, _adj[i].Length * 2));
                _adj[i][_deg[i]++] = j; _added++;
                lowest = Math.Min(lowest, C(i, j) - _v[j]);
            }
            if (lowest >= _u[i]) return false;
            _u[i] = lowest;
            var assigned = _colOfRow[i];
            if (assigned < 0) return false;
            _colOfRow[i] = -1; _rowOfCol[assigned] = -1;
            return true;
        }

        // A full pass: every (i, j) with c_ij - u_i - v_j < -tol joins the graph (its row freed when u_i must drop); with
        // refresh, each row's k cheapest columns under the current prices join it too, since the prices have moved since the
        // graph was built. Returns true when anything was violated (another round is needed).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private bool Verify(Stack<int> free, bool refresh)
        {
            var additions = new List<int>?[_n];
            var violated = new bool[_n];
            var tol = _tolerance;
            var vf = Array.ConvertAll(_v, x => (float)x);
            // Screened in float32 with a margin far above its rounding (~1e-7 of the magnitudes), then rechecked in float64:
            // the screen never misses a violation, and only near-tight entries pay for the exact check.
            var magnitude = _v.Max(Math.Abs) + _u.Max(Math.Abs);
            var margin = (float)(1e-5 * (1 + magnitude + _scale));
            Parallel.For(0, _threads, new ParallelOptions { MaxDegreeOfParallelism = _threads }, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (t) =>
            {
                var (lo, hi) = Range(t);
                var best = new Smallest(_k);
                var width = System.Numerics.Vector<float>.Count;
                for (var i = lo; i < hi; i++)
                {
                    var row = new ReadOnlySpan<float>(_c + (long)i * _n, _n);
                    var ui = _u[i];
                    var screen = (float)ui + margin;
                    var limit = new System.Numerics.Vector<float>(screen);
                    List<int>? found = null;
                    var j = 0;
                    for (; j <= _n - width; j += width)
                    {
                        var r = new System.Numerics.Vector<float>(row.Slice(j)) - new System.Numerics.Vector<float>(vf, j);
                        if (System.Numerics.Vector.GreaterThanOrEqualAll(r, limit)) continue;
                        for (var l = j; l < j + width; l++)
                            if (row[l] - ui - _v[l] < -tol) (found ??= []).Add(l);
                    }
                    for (; j < _n; j++)
                        if (row[j] - ui - _v[j] < -tol) (found ??= []).Add(j);
                    violated[i] = found is not null;
                    if (refresh && _k < _n)
                    {
                        best.Clear();
                        best.Scan(row, vf);
                        (found ??= []).AddRange(best.Index.Take(best.Count));
                    }
                    additions[i] = found;
                }
            });
            for (var i = 0; i < _n; i++)
                if (additions[i] is { } cols && AddEdges(i, cols)) free.Push(i);
            return violated.Any(v => v);
        }
    }

    // The full passes over the matrix (and this heap) are marked AggressiveOptimization: a solve calls them a few times per
    // batch, too few for tiering to promote them, and unoptimised Vector<T> code is many times slower. The branchy graph
    // phases (auction, row reduction, Dijkstra) are left to tiering: measured, they ran ~2x faster with dynamic PGO.
    /// <summary>The k smallest values offered (a max-heap on the value, its root the k-th smallest so far).</summary>
    private sealed class Smallest(int k)
    {
        public readonly int[] Index = new int[k];
        public readonly float[] Value = new float[k];
        public int Count;

        public void Clear() => Count = 0;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Offer(int j, float r)
        {
            if (Count < k)
            {
                var at = Count++;
                while (at > 0)
                {
                    var parent = (at - 1) / 2;
                    if (Value[parent] >= r) break;
                    Value[at] = Value[parent]; Index[at] = Index[parent]; at = parent;
                }
                Value[at] = r; Index[at] = j;
            }
            else if (r < Value[0])
            {
                var at = 0;
                while (true)
                {
                    var left = 2 * at + 1;
                    if (left >= k) break;
                    var big = left + 1 < k && Value[left + 1] > Value[left] ? left + 1 : left;
                    if (Value[big] <= r) break;
                    Value[at] = Value[big]; Index[at] = Index[big]; at = big;
                }
                Value[at] = r; Index[at] = j;
            }
        }

        // Offers row[j] - v[j] for every j; whole SIMD blocks at or above the current k-th smallest are skipped.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Scan(ReadOnlySpan<float> row, float[] v)
        {
            var n = row.Length;
            var width = System.Numerics.Vector<float>.Count;
            var j = 0;
            for (; j <= n - width; j += width)
            {
                var r = new System.Numerics.Vector<float>(row.Slice(j)) - new System.Numerics.Vector<float>(v, j);
                if (Count == k && System.Numerics.Vector.GreaterThanOrEqualAll(r, new System.Numerics.Vector<float>(Value[0]))) continue;
                for (var l = 0; l < width; l++) Offer(j + l, r[l]);
            }
            for (; j < n; j++) Offer(j, row[j] - v[j]);
        }
    }
}
