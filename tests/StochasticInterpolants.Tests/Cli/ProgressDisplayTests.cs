using StochasticInterpolants.Cli;

namespace StochasticInterpolants.Tests.Cli;

public class ProgressDisplayTests
{
    [Fact]
    public void Plain_progress_prints_a_line_at_the_first_report_and_then_every_tenth()
    {
        // A run whose first quarter takes minutes printed nothing until 25 %: the first report now prints at once.
        var error = new StringWriter();
        var display = new ProgressDisplay(ProgressMode.Plain, error);
        var linesAfterFirst = display.Fraction("sample", p =>
        {
            p.Report(0.004);
            var first = error.ToString();
            for (var i = 1; i <= 200; i++) p.Report(i / 200.0);
            return first;
        });
        Assert.StartsWith("sample: 0%", linesAfterFirst);
        var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // 0 %, then 10 %, 20 %, ..., 100 %: eleven lines, not two hundred.
        Assert.Equal(11, lines.Length);
        Assert.StartsWith("sample: 100%", lines[^1]);
        Assert.StartsWith("sample: 50%", lines[5]);
    }
}
