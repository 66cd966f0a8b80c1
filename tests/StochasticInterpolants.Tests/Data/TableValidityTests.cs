using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Training;
using StochasticInterpolants.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Data;

/// <summary>
/// Issue 23, defect 14: generated rows outside the data. The log transform of a positive column (its NLL in data units
/// through the Jacobian), columns snapped to their observed values, and the count of generated values outside the
/// training range.
/// </summary>
public sealed class TableValidityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-validity-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static double NormalLogDensity(double v, double mean, double sd) => -0.5 * Math.Log(2 * Math.PI * sd * sd) - (v - mean) * (v - mean) / (2 * sd * sd);

    [Fact]
    public void The_log_transform_gives_the_log_normal_density_in_data_units()
    {
        // x = exp(z), z ~ N(m, s^2): log p(x) = -log x + log N(log x; m, s^2). The encoding y = (log x - m) / s maps it to
        // N(0, 1) exactly, so log N(y; 0, 1) + LogJacobian(x) must equal the closed form row by row.
        const double m = 1.5, s = 0.4;
        var e = new TableEncoding(Normalization.Standard, [m, 0], [1 / s, 0, 0, 1], [], [], LogColumns: [0]);
        using var g = new Generator(11);
        using var z = randn(500, 2, dtype: float64, generator: g);
        using var x = stack([(z[.., 0] * s + m).exp(), z[.., 1]], 1);
        using var y = e.Encode(x).to(float64);
        using var jacobian = e.LogJacobian(x);
        var xs = x.data<double>().ToArray(); var ys = y.data<double>().ToArray(); var js = jacobian.data<double>().ToArray();
        double nll = 0, gaussianOfLog = 0, meanLog = 0;
        for (var r = 0; r < 500; r++)
        {
            var closed = -Math.Log(xs[2 * r]) + NormalLogDensity(Math.Log(xs[2 * r]), m, s) + NormalLogDensity(xs[2 * r + 1], 0, 1);
            var viaFlowSpace = NormalLogDensity(ys[2 * r], 0, 1) + NormalLogDensity(ys[2 * r + 1], 0, 1) + js[r];
            Assert.True(Math.Abs(closed - viaFlowSpace) < 1e-5, $"row {r}: closed form {closed}, through the encoding {viaFlowSpace}"); // (y is float32)
            nll -= viaFlowSpace / 500; gaussianOfLog -= NormalLogDensity(Math.Log(xs[2 * r]), m, s) / 500; meanLog += Math.Log(xs[2 * r]) / 500;
        }
        // The statement of it: the NLL in data units is the Gaussian NLL of log x plus mean(log x) (plus the other column's).
        var other = -Enumerable.Range(0, 500).Average(r => NormalLogDensity(xs[2 * r + 1], 0, 1));
        Assert.Equal(gaussianOfLog + meanLog + other, nll, 5);
        Assert.Equal(-Math.Log(s), e.LogAbsDeterminant, 12);
    }

    [Fact]
    public void A_fitted_log_encoding_decodes_back_and_generates_only_positive_values()
    {
        using var g = new Generator(12);
        using var z = randn(4000, 2, dtype: float64, generator: g);
        using var x = stack([(z[.., 0] * 2 + 3).exp(), z[.., 1] + 10], 1); // a log-normal column spanning ~5 decades
        foreach (var kind in new[] { Normalization.Standard, Normalization.Whiten, Normalization.None })
        {
            var e = TableEncoding.Fit(x, kind, logColumns: [0]);
            Assert.Equal([0], e.LogColumns!);
            using var y = e.Encode(x);
            if (kind != Normalization.None) Assert.True(y[.., 0].std().ToDouble() is > 0.95 and < 1.05, $"{kind}: the log column is standardised in log space");
            using var back = e.Decode(y);
            using var relative = ((back - x).abs() / x.abs()).max();
            Assert.True(relative.ToDouble() < 1e-5, $"{kind}: round trip relative error {relative.ToDouble()}");
            // Anything the flow generates, however far out, comes back positive.
            using var wild = randn(2000, 2, generator: g) * 6;
            using var generated = e.Decode(wild);
            Assert.True(generated[.., 0].min().ToDouble() > 0, $"{kind}: a generated value {generated[.., 0].min().ToDouble()} <= 0 in the log column");
        }
        // The fitted NLL of the log column approaches the log-normal's entropy m + 1/2 log(2 pi e s^2) = 3 + 0.5 log(2 pi e 4).
        var fit = TableEncoding.Fit(x[.., ..1], Normalization.Standard, logColumns: [0]);
        using var yy = fit.Encode(x[.., ..1]).to(float64);
        var nll = -((-0.5 * Math.Log(2 * Math.PI) - yy.square().squeeze(1) / 2) + fit.LogJacobian(x[.., ..1])).mean().ToDouble();
        var entropy = 3 + 0.5 * Math.Log(2 * Math.PI * Math.E * 4);
        Assert.True(Math.Abs(nll - entropy) < 0.1, $"NLL {nll} vs the log-normal entropy {entropy} (s.e. of the mean of log x over 4000 rows: 0.03)");
    }

    [Fact]
    public void A_log_column_refuses_values_that_are_not_positive()
    {
        var e = new TableEncoding(Normalization.None, [0, 0], [1, 0, 0, 1], [], [], LogColumns: [1]);
        using var x = tensor(new[] { 1.0, 2.0, -3.0, 0.0 }, [2, 2], dtype: float64);
        Assert.Contains("column 2 is modelled through a log transform but 1 of 2 rows hold a value <= 0", Assert.Throws<DataFormatException>(() => e.Encode(x)).Message);
        Assert.Throws<DataFormatException>(() => e.LogJacobian(x));
    }

    [Fact]
    public void Snapped_columns_take_their_nearest_observed_value()
    {
        var codes = new TableEncoding(Normalization.None, [0, 0], [1, 0, 0, 1], [0, 1], []).WithSnapping(
            [new SnappedColumn(0, [1.0, 2.0]), new SnappedColumn(1, [1.0, 4.0])]);
        // Column 0 (values 1, 2): k + u rounds down to k, then the nearest of {1, 2}; column 1 (1, 4): 2 is nearer 1, 3 nearer 4.
        using var y = tensor(new[] { -3.0, 2.5, 0.2, 2.9, 1.7, 3.2, 2.2, 9.0, 9.0, -1.0 }, [5, 2], dtype: float32);
        using var x = codes.Decode(y);
        Assert.Equal(new[] { 1.0, 1.0, 1.0, 1.0, 1.0, 4.0, 2.0, 4.0, 2.0, 1.0 }, x.data<double>().ToArray());
    }

    [Fact]
    public void The_out_of_range_report_counts_a_constructed_sample()
    {
        // Column a: continuous on [1, 5]; b: whole numbers {1, 2}; c: whole numbers 0..39 (too many for a set: range only).
        var rows = new List<double>();
        for (var i = 0; i < 40; i++) rows.AddRange([1 + 4.0 * i / 39, 1 + i % 2, i]);
        using var train = tensor(rows.ToArray(), [40, 3], dtype: float64);
        var support = TableSupport.Of(train);
        Assert.Null(support.Columns[0].Values);
        Assert.Equal([1.0, 2.0], support.Columns[1].Values!);
        Assert.Null(support.Columns[2].Values);
        Assert.Equal((0, 39), (support.Columns[2].Min, support.Columns[2].Max));
        using var samples = tensor(new[]
        {
            0.0, 1, 5,    // a below
            1.0, 2, 0,    // inside
            5.0, 3, 39,   // b above
            6.0, 1.5, 40, // a above, b not an observed value, c above
            3.0, 0, 20.5, // b below (c: inside the range, which is all a column of many values is checked against)
        }, [5, 3], dtype: float64);
        var outside = support.Outside(samples, ["a", "b", "c"]);
        Assert.Equal(new ColumnOutside("a", 0.2, 0.2, 0), outside[0]);
        Assert.Equal(new ColumnOutside("b", 0.2, 0.2, 0.2), outside[1]);
        Assert.Equal(new ColumnOutside("c", 0, 0.2, 0), outside[2]);
        Assert.Equal(0.6, outside[1].Outside, 12);
        Assert.Equal(0.8, support.RowsOutside(samples), 12);
        var line = TableSupport.Summary(outside);
        Assert.StartsWith("generated values outside the training rows' range: b 60.0 % (20.0 % below min, 20.0 % above max, 20.0 % not an observed value); a 40.0 %", line);
        Assert.Contains("every generated value is inside", TableSupport.Summary(support.Outside(train, ["a", "b", "c"])));
    }

    [Fact]
    public void The_validation_nll_adds_the_log_jacobian_of_exactly_the_rows_it_scores()
    {
        // 400 sorted rows, 40 of which enter the NLL: each row's further log-Jacobian term is its index, so the NLL must
        // move by minus the mean index of the rows scored (not of all 400, 199.5).
        using var first = arange(400, dtype: float32).unsqueeze(1);
        using var rows = cat([first / 400, first.neg() / 400], 1);
        using var terms = arange(400, dtype: float64);
        using var net = new MlpNetwork(new MlpConfig(2, Width: 8, Depth: 2), seed: 3);
        var learned = new[] { new LearnedNetwork(new VelocityObjective(new LinearInterpolant()), net) };
        var coupling = new IndependentCoupling(new StandardGaussian(2), new StandardGaussian(2));
        var settings = new ValidationSettings(ObjectiveDraws: 16, NllRows: 40, NllSteps: 2, Seed: 5);
        using var plain = new HeldOutValidator(learned, new LinearInterpolant(), coupling, new StandardGaussian(2), rows, null, 0.25, settings);
        using var with = new HeldOutValidator(learned, new LinearInterpolant(), coupling, new StandardGaussian(2), rows, null, 0.25, settings, rowLogJacobian: terms);
        var scored = with.NllRows[.., 0].to(float64).mean().ToDouble() * 400; // the indices of the rows scored
        Assert.True(Math.Abs(scored - 199.5) > 1, "the subset's mean index should differ from the whole set's for this test to mean anything");
        Assert.Equal(plain.Validate().Nll!.Value - scored, with.Validate().Nll!.Value, 3);
    }

    // A table of (a code 1 or 2, a log-normal concentration, a value that can be negative), with a header.
    private string Table(int n)
    {
        var rng = new Random(4);
        var lines = new List<string> { "sex,conc,delta" };
        for (var i = 0; i < n; i++)
            lines.Add(FormattableString.Invariant($"{1 + rng.Next(2)},{Math.Exp(rng.NextDouble() * 3 - 4):R},{rng.NextDouble() - 0.5:R}"));
        var path = Path.Combine(_dir, "t.csv");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Training_records_the_support_and_the_chosen_transforms()
    {
        var path = Table(200);
        var pieces = TablePieces.Build(new TrainingRunConfig(Target: path, Integers: "snap", LogColumns: "positive"));
        try
        {
            var e = pieces.Record.Encoding;
            Assert.Equal([0, 1], e.LogColumns!); // sex (1, 2) and conc are positive; delta is not
            Assert.Equal(0, Assert.Single(e.SnappedColumns!).Column);
            Assert.Equal([1.0, 2.0], e.SnappedColumns![0].Values);
            Assert.Equal([1.0, 2.0], pieces.Record.Support!.Columns[0].Values!);
            Assert.Contains("through a log (y = log x, NLL in data units): sex, conc; generated values snapped to the observed ones: sex", TablePieces.TransformNote(pieces.Record));
            // The validator's further term per row: -sum of the log columns' logs of the (dequantised) validation rows.
            var terms = pieces.ValidationLogJacobian!;
            Assert.Equal(pieces.Record.ValidationRows, terms.shape[0]);
            Assert.True(terms.mean().ToDouble() > 0, "the log columns are mostly below 1 here, so -mean log x > 0");
        }
        finally { pieces.Target.Dispose(); pieces.ValidationRows.Dispose(); }

        var named = TablePieces.Build(new TrainingRunConfig(Target: path, LogColumns: "CONC"));
        try { Assert.Equal([1], named.Record.Encoding.LogColumns!); Assert.Null(named.Record.Encoding.SnappedColumns); }
        finally { named.Target.Dispose(); named.ValidationRows.Dispose(); }
        var bad = Assert.Throws<InvalidSettingException>(() => TablePieces.Build(new TrainingRunConfig(Target: path, LogColumns: "conc,3")));
        Assert.Equal("log-columns", bad.Setting);
        Assert.Contains("column delta holds -0.4", bad.Message);
        Assert.Equal("log-columns", Assert.Throws<InvalidSettingException>(() => TablePieces.Build(new TrainingRunConfig(Target: path, LogColumns: "nope"))).Setting);
    }
}
