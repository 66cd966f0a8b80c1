using StochasticInterpolants.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Data;

/// <summary>The map from a table's units to the flow's space, its log-determinant, the split and the Gaussian baseline.</summary>
public sealed class TableEncodingTests
{
    // Rows with columns on very different scales (0.001 to 4,000, like the breast-cancer table) and some correlation.
    private static Tensor Rows(int n, long seed)
    {
        using var g = new Generator((ulong)seed);
        var z = randn(n, 3, dtype: float64, generator: g);
        var mixed = stack([z[.., 0], 0.6 * z[.., 0] + 0.8 * z[.., 1], z[.., 2]], 1);
        return mixed * tensor(new[] { 0.001, 4000.0, 2.5 }, dtype: float64) + tensor(new[] { 0.05, 900.0, -3.0 }, dtype: float64);
    }

    [Theory]
    [InlineData(Normalization.Standard)]
    [InlineData(Normalization.Whiten)]
    public void Encoded_training_rows_are_standardised_and_decode_back(Normalization kind)
    {
        using var x = Rows(5000, 1);
        var e = TableEncoding.Fit(x, kind);
        using var y = e.Encode(x).to(float64);
        var mean = y.mean([0]).data<double>().ToArray();
        Assert.All(mean, m => Assert.True(Math.Abs(m) < 1e-5, $"encoded mean {m}"));
        using var cov = y.t().matmul(y) / y.shape[0];
        for (var i = 0; i < 3; i++)
            for (var j = 0; j < 3; j++)
            {
                var c = cov[i, j].ToDouble();
                if (i == j) Assert.True(Math.Abs(c - 1) < 1e-4, $"variance of column {i}: {c}");
                // Standardising leaves the 0.6 correlation of columns 0 and 1; whitening removes it.
                else if (kind == Normalization.Whiten || (i + j != 1)) Assert.True(Math.Abs(c) < 0.05, $"cov[{i},{j}] = {c}");
                else Assert.True(Math.Abs(c - 0.6) < 0.05, $"cov[{i},{j}] = {c}");
            }
        using var back = e.Decode(y);
        // Relative to each column's spread (float32 in the middle: ~1e-7 of it).
        using var relative = ((back.to(float64) - x).abs() / x.std(0, unbiased: false)).max();
        Assert.True(relative.ToDouble() < 1e-5, $"round trip error {relative.ToDouble()} of a column's standard deviation");
    }

    [Fact]
    public void Log_determinant_and_change_of_variables_match_a_gaussian_scaled_by_a_known_diagonal()
    {
        // x = D z with z ~ N(0, I): log N(x; 0, D^2) = log N(W x; 0, I) + log |det W| exactly for W = D^-1.
        var d = new[] { 0.001, 4000.0, 2.5 };
        var exact = new TableEncoding(Normalization.Standard, [0, 0, 0], [1 / d[0], 0, 0, 0, 1 / d[1], 0, 0, 0, 1 / d[2]], [], []);
        Assert.Equal(-d.Sum(Math.Log), exact.LogAbsDeterminant, 12);
        using var g = new Generator(5);
        using var x = randn(200, 3, dtype: float64, generator: g) * tensor(d, dtype: float64);
        using var y = exact.Encode(x).to(float64);
        var v = x.data<double>().ToArray(); var w = y.data<double>().ToArray();
        for (var r = 0; r < 200; r++)
        {
            double logX = 0, logY = 0;
            for (var j = 0; j < 3; j++)
            {
                logX += -0.5 * Math.Log(2 * Math.PI * d[j] * d[j]) - v[3 * r + j] * v[3 * r + j] / (2 * d[j] * d[j]);
                logY += -0.5 * Math.Log(2 * Math.PI) - w[3 * r + j] * w[3 * r + j] / 2;
            }
            Assert.True(Math.Abs(logX - (logY + exact.LogAbsDeterminant)) < 1e-4, $"row {r}: {logX} vs {logY + exact.LogAbsDeterminant}"); // (y is float32)
        }
        // Fitted on a large sample, the log-determinant is -sum log d_j up to sampling error (s.e. of log s_j ~ 1/sqrt(2n)).
        using var big = randn(40_000, 3, dtype: float64, generator: g) * tensor(d, dtype: float64);
        foreach (var kind in new[] { Normalization.Standard, Normalization.Whiten })
        {
            var fitted = TableEncoding.Fit(big, kind);
            Assert.True(Math.Abs(fitted.LogAbsDeterminant + d.Sum(Math.Log)) < 0.03, $"{kind}: {fitted.LogAbsDeterminant} vs {-d.Sum(Math.Log)}");
        }
    }

    [Fact]
    public void Whitening_log_determinant_of_correlated_columns_is_minus_half_the_log_determinant_of_their_covariance()
    {
        // Strongly correlated columns on different scales: for W = L^-1 D^-1, log |det W| = -1/2 log det Sigma, where the
        // off-diagonal (triangular) part of the whitening carries -1/2 log det of the correlation matrix. A log-determinant
        // that kept only the scales (-sum log s_j) would be off by that term, which is large here.
        using var g = new Generator(11);
        using var z = randn(2000, 4, dtype: float64, generator: g);
        using var mix = tensor(new[] { 1.0, 0, 0, 0, 0.9, 0.3, 0, 0, -0.5, 0.7, 0.4, 0, 0.2, 0.2, 0.9, 0.1 }, [4, 4], dtype: float64);
        using var x = z.matmul(mix.t()) * tensor(new[] { 0.01, 30.0, 1.0, 500.0 }, dtype: float64) + 7;
        var rows = x.data<double>().ToArray();
        const int n = 2000, d = 4;

        // The population covariance (the fit's convention) and its Cholesky factor, in plain float64, independent of the library.
        var mean = new double[d];
        for (var i = 0; i < n; i++) for (var j = 0; j < d; j++) mean[j] += rows[i * d + j] / n;
        var cov = new double[d, d];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < d; j++)
                for (var k = 0; k < d; k++) cov[j, k] += (rows[i * d + j] - mean[j]) * (rows[i * d + k] - mean[k]) / n;
        var l = new double[d, d];
        for (var j = 0; j < d; j++)
            for (var k = 0; k <= j; k++)
            {
                var sum = cov[j, k];
                for (var p = 0; p < k; p++) sum -= l[j, p] * l[k, p];
                l[j, k] = j == k ? Math.Sqrt(sum) : sum / l[k, k];
            }
        var halfLogDet = 0.0;
        for (var j = 0; j < d; j++) halfLogDet += Math.Log(l[j, j]); // 1/2 log det Sigma = sum log L_jj
        var scalesOnly = -Enumerable.Range(0, d).Sum(j => 0.5 * Math.Log(cov[j, j]));

        var whiten = TableEncoding.Fit(x, Normalization.Whiten);
        Assert.True(Math.Abs(whiten.LogAbsDeterminant - -halfLogDet) < 1e-8, $"whiten: {whiten.LogAbsDeterminant} vs -1/2 log det Sigma = {-halfLogDet}");
        Assert.True(Math.Abs(-halfLogDet - scalesOnly) > 1, $"the correlations should matter: {-halfLogDet} vs {scalesOnly} from the scales alone");
        // Standardising keeps the correlations: its log-determinant is the scales' alone.
        Assert.True(Math.Abs(TableEncoding.Fit(x, Normalization.Standard).LogAbsDeterminant - scalesOnly) < 1e-8);
        // And the change of variables holds row by row: log N(x; mu, Sigma) = log N(W (x - mu); 0, I) + log |det W|.
        using var y = whiten.Encode(x).to(float64);
        var w = y.data<double>().ToArray();
        for (var i = 0; i < 50; i++)
        {
            // (x - mu)^T Sigma^-1 (x - mu) = |L^-1 (x - mu)|^2, by forward substitution.
            var v = new double[d];
            for (var j = 0; j < d; j++)
            {
                var sum = rows[i * d + j] - mean[j];
                for (var p = 0; p < j; p++) sum -= l[j, p] * v[p];
                v[j] = sum / l[j, j];
            }
            var logX = -0.5 * v.Sum(e => e * e) - halfLogDet - 0.5 * d * Math.Log(2 * Math.PI);
            var logY = -0.5 * Enumerable.Range(0, d).Sum(j => w[i * d + j] * w[i * d + j]) - 0.5 * d * Math.Log(2 * Math.PI);
            Assert.True(Math.Abs(logX - (logY + whiten.LogAbsDeterminant)) < 1e-4, $"row {i}: {logX} vs {logY + whiten.LogAbsDeterminant}"); // (y is float32)
        }
    }

    [Fact]
    public void A_constant_column_is_not_divided_by_zero()
    {
        using var x = cat([Rows(100, 2), full(100, 1, 7.0, dtype: float64)], 1);
        foreach (var kind in new[] { Normalization.Standard, Normalization.Whiten })
        {
            var e = TableEncoding.Fit(x, kind);
            Assert.Equal([3], e.ConstantColumns);
            Assert.True(double.IsFinite(e.LogAbsDeterminant));
            using var y = e.Encode(x);
            Assert.True(y.isfinite().all().ToBoolean());
            Assert.True(y[.., 3].abs().max().ToDouble() < 1e-6);
            using var back = e.Decode(y);
            Assert.True((back[.., 3] - 7).abs().max().ToDouble() < 1e-5);
        }
    }

    [Fact]
    public void Dequantisation_adds_unit_noise_to_integer_columns_only_and_decoding_rounds_it_away()
    {
        using var g = new Generator(3);
        using var x = cat([randint(0, 50, [1000, 1], generator: g).to(float32), randn(1000, 1, generator: g)], 1);
        var e = TableEncoding.Fit(x, Normalization.Standard, [0]);
        using var noisy = e.Dequantize(x, g);
        using var added = noisy - x;
        Assert.True(added[.., 0].min().ToDouble() >= 0 && added[.., 0].max().ToDouble() < 1);
        Assert.True(added[.., 0].std().ToDouble() > 0.25); // uniform on [0, 1): 0.289
        Assert.Equal(0, added[.., 1].abs().max().ToDouble());
        using var y = e.Encode(x, g);
        using var back = e.Decode(y);
        Assert.Equal(0, (back[.., 0] - x[.., 0]).abs().max().ToDouble()); // k + u rounds down to k
    }

    [Fact]
    public void Gaussian_baseline_matches_the_closed_form_and_fits_class_means()
    {
        var g = new FittedGaussian([[1.0, -2.0]], [2.0, 0.6, 0.6, 0.5]);
        using var x = tensor(new[] { 0.3, -1.0, 2.5, -2.2 }, [2, 2], dtype: float64);
        var lp = g.LogDensity(x).data<double>().ToArray();
        var det = 2.0 * 0.5 - 0.36;
        for (var r = 0; r < 2; r++)
        {
            var a = x[r, 0].ToDouble() - 1; var b = x[r, 1].ToDouble() + 2;
            var quad = (0.5 * a * a - 2 * 0.6 * a * b + 2.0 * b * b) / det; // (x-mu)^T Sigma^-1 (x-mu)
            Assert.Equal(-0.5 * (quad + Math.Log(det) + 2 * Math.Log(2 * Math.PI)), lp[r], 10);
        }
        using var gen = new Generator(9);
        using var rows = cat([randn(3000, 2, dtype: float64, generator: gen) + 5, randn(3000, 2, dtype: float64, generator: gen) - 5]);
        var labels = Enumerable.Repeat(0L, 3000).Concat(Enumerable.Repeat(1L, 3000)).ToArray();
        var fit = FittedGaussian.Fit(rows, labels, 2);
        Assert.True(Math.Abs(fit.Means[0][0] - 5) < 0.1 && Math.Abs(fit.Means[1][1] + 5) < 0.1);
        Assert.True(Math.Abs(fit.Covariance[0] - 1) < 0.1, $"pooled within-class variance {fit.Covariance[0]}"); // not ~26 (the mixture's)
    }

    [Fact]
    public void The_row_split_is_seeded_disjoint_and_complete()
    {
        var (train, validation) = RowSplit.Random(569, 0.1, 0);
        Assert.Equal(57, validation.Length);
        Assert.Equal(Enumerable.Range(0, 569), train.Concat(validation).Order());
        Assert.Equal(validation, RowSplit.Random(569, 0.1, 0).Validation);
        Assert.NotEqual(validation, RowSplit.Random(569, 0.1, 1).Validation);
        Assert.Empty(RowSplit.Random(10, 0, 0).Validation);
        Assert.Throws<ArgumentException>(() => RowSplit.Random(2, 0.5, 0));
    }
}
