using StochasticInterpolants.Data;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Words;

/// <summary>
/// Words as fixed-length rows of ids (PAD = 0, 'a'..'z' = 1..26, MASK = 27 outside the vocabulary): encoding, decoding,
/// the malformed rows, and the empirical distribution the trainer draws from.
/// </summary>
public sealed class TokenSequenceTests
{
    [Fact]
    public void Lowercase_vocabulary_has_pad_zero_letters_one_to_26_and_mask_27()
    {
        var tokens = TokenSequences.LowercaseLetters(8);
        Assert.Equal(27, tokens.VocabularySize);
        Assert.Equal(27, tokens.MaskId);
        Assert.Equal(0, TokenSequences.Pad);
        Assert.Equal(1, tokens.Id('a'));
        Assert.Equal(26, tokens.Id('z'));
        Assert.Equal('q', tokens.Character(17));
        Assert.Throws<ArgumentException>(() => tokens.Id('A'));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokens.Character(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokens.Character(27));
        Assert.Throws<ArgumentException>(() => new TokenSequences("abca", 4));
    }

    [Fact]
    public void Encode_then_decode_gives_the_words_back()
    {
        using var scope = NewDisposeScope();
        var tokens = TokenSequences.LowercaseLetters(5);
        string[] words = ["a", "cat", "zebra", "quiz", "ox"];
        var ids = tokens.Encode(words);
        Assert.Equal(ScalarType.Float32, ids.dtype);
        Assert.Equal([5L, 5L], ids.shape);
        // "cat" = 3, 1, 20, PAD, PAD.
        Assert.Equal([3f, 1f, 20f, 0f, 0f], ids[1].data<float>().ToArray());
        var decoded = tokens.Decode(ids);
        Assert.Equal(words, decoded.Select(d => d.Word));
        Assert.All(decoded, d => Assert.Equal(SequenceStatus.Word, d.Status));
        // Integer tensors decode the same way.
        Assert.Equal(words, tokens.Decode(ids.to(ScalarType.Int64)).Select(d => d.Word));
    }

    [Fact]
    public void Encode_refuses_words_that_do_not_fit()
    {
        var tokens = TokenSequences.LowercaseLetters(4);
        Assert.Throws<ArgumentException>(() => tokens.Encode(["zebra"]));
        Assert.Throws<ArgumentException>(() => tokens.Encode([""]));
        Assert.Throws<ArgumentException>(() => tokens.Encode(["Cat"]));
        Assert.False(tokens.Fits("zebra"));
        Assert.False(tokens.Fits("it's"));
        Assert.True(tokens.Fits("abcd"));
    }

    [Fact]
    public void Decode_flags_empty_rows_letters_after_pad_and_ids_outside_the_vocabulary()
    {
        using var scope = NewDisposeScope();
        var tokens = TokenSequences.LowercaseLetters(4);
        var ids = tensor(new float[]
        {
            3, 1, 20, 0,   // cat
            0, 0, 0, 0,    // empty
            3, 0, 20, 0,   // c_t: a letter after PAD
            3, 1, 27, 0,   // a MASK left in
            1, 2, 3, 4,    // abcd (full length, no PAD)
            0, 0, 0, 1,    // a letter after PAD at the end
            -1, 0, 0, 0,   // a negative id
        }, [7, 4]);
        var decoded = tokens.Decode(ids);
        Assert.Equal(
            [SequenceStatus.Word, SequenceStatus.Empty, SequenceStatus.CharacterAfterPad, SequenceStatus.OutOfVocabulary,
             SequenceStatus.Word, SequenceStatus.CharacterAfterPad, SequenceStatus.OutOfVocabulary],
            decoded.Select(d => d.Status));
        Assert.Equal(["cat", null, null, null, "abcd", null, null], decoded.Select(d => d.Word));
        Assert.Equal([false, true, true, true, false, true, true], decoded.Select(d => d.IsMalformed));
    }

    [Fact]
    public void Decode_refuses_fractional_values_and_wrong_shapes()
    {
        using var scope = NewDisposeScope();
        var tokens = TokenSequences.LowercaseLetters(3);
        Assert.Throws<ArgumentException>(() => tokens.Decode(tensor(new float[] { 1, 2.5f, 0 }, [1, 3])));
        Assert.Throws<ArgumentException>(() => tokens.Decode(tensor(new float[] { 1, float.NaN, 0 }, [1, 3])));
        Assert.Throws<ArgumentException>(() => tokens.Decode(tensor(new float[] { 1, 2, 0, 0 }, [1, 4])));
    }

    [Fact]
    public void Distribution_draws_encoded_training_words_reproducibly()
    {
        using var scope = NewDisposeScope();
        var tokens = TokenSequences.LowercaseLetters(6);
        string[] words = ["ant", "bee", "cicada", "moth", "wasp"];
        using var distribution = tokens.Distribution(words, "insects");
        Assert.Equal(6, distribution.Dimension);
        Assert.False(distribution.HasLogDensity);
        var a = distribution.Sample(200, new Generator(7));
        var b = distribution.Sample(200, new Generator(7));
        Assert.True(a.equal(b).all().item<bool>());
        var drawn = tokens.Decode(a).Select(d => d.Word!).ToList();
        Assert.All(drawn, w => Assert.Contains(w, words));
        // Every word appears among 200 uniform draws of 5 (each misses with probability 0.8^200 ~ 4e-20).
        Assert.Equal(words.Length, drawn.Distinct().Count());
    }
}
